// Node's filesystem for the Node branches of files.ts and workspace.ts, which import this module
// lazily (only a Node folder source, sink or workspace reaches it), so the shared modules stay
// loadable in a browser bundle (vite.config.ts stubs every `*-node` module there). The types are
// fs-node.core.ts's: assigning Node's modules to them here is the check that they fit.

import * as nodeFs from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { NodeFs, NodePath } from './fs-node.core';

export const fs: NodeFs = nodeFs;
export const path: NodePath = nodePath;
export const pid: number = process.pid;
