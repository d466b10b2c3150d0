// What host-independent code sees of fs-node.ts: the part of Node's fs and path that files.ts and
// workspace.ts use, as a narrow structural type (the browser side of those files does the same for
// directory handles). The core and app TypeScript projects resolve `./fs-node` to this file
// (`moduleSuffixes: [".core", ""]`), so they compile without Node's types; the node project checks
// that Node's real modules fit these types where fs-node.ts assigns them. Nothing imports this
// file at run time.

export interface NodeDirent {
  name: string;
  isFile(): boolean;
  isDirectory(): boolean;
}

export interface NodeStats {
  size: number;
  isFile(): boolean;
  isDirectory(): boolean;
}

export interface NodeFileHandle {
  writeFile(data: Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface NodeFs {
  readdir(path: string, options: { withFileTypes: true }): Promise<NodeDirent[]>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  appendFile(path: string, data: string): Promise<void>;
  stat(path: string): Promise<NodeStats>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
  open(path: string, flags: 'w'): Promise<NodeFileHandle>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { recursive?: boolean; force?: boolean }): Promise<void>;
}

export interface NodePath {
  join(...parts: string[]): string;
  dirname(path: string): string;
}

export declare const fs: NodeFs;
export declare const path: NodePath;
/** This process's id (temp-file names). */
export declare const pid: number;
