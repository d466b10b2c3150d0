import { useRef } from 'react';

type DirPicker = (o?: { mode?: 'read' | 'readwrite'; id?: string }) => Promise<FileSystemDirectoryHandle>;

const dirPicker = (): DirPicker | null => {
  const w = window as unknown as { showDirectoryPicker?: DirPicker };
  return typeof w.showDirectoryPicker === 'function' ? w.showDirectoryPicker.bind(window) : null;
};

/** A folder to write into (export); null when the user closed the picker. Throws where browsers cannot. */
export async function pickWritableFolder(): Promise<FileSystemDirectoryHandle | null> {
  const pick = dirPicker();
  if (!pick) throw new Error('Writing to a folder needs the File System Access API (showDirectoryPicker), which this browser lacks; Chrome and Edge have it.');
  try {
    return await pick({ mode: 'readwrite', id: 'thinker-export' });
  } catch (e) {
    if ((e as DOMException).name === 'AbortError') return null;
    throw e;
  }
}

/**
 * "Choose folder…": the directory picker where the browser has one, and always a plain
 * <input webkitdirectory> beside it (other browsers, and automated tests that set its files).
 */
export function FolderPicker({
  onPick,
  disabled,
  label = 'Choose folder…',
  testId,
}: {
  onPick: (from: FileSystemDirectoryHandle | File[]) => void;
  disabled?: boolean;
  label?: string;
  testId: string;
}) {
  const input = useRef<HTMLInputElement>(null);
  const picker = dirPicker();
  return (
    <span className="folder-picker">
      <button
        className="btn"
        disabled={disabled}
        data-testid={`${testId}-button`}
        onClick={async () => {
          if (!picker) {
            input.current?.click();
            return;
          }
          try {
            onPick(await picker({ mode: 'read', id: 'thinker-import' }));
          } catch (e) {
            // Closing the picker is not an error.
            if ((e as DOMException).name !== 'AbortError') input.current?.click();
          }
        }}
      >
        {label}
      </button>
      {picker && (
        <button className="linklike" disabled={disabled} onClick={() => input.current?.click()}>
          or pick its files
        </button>
      )}
      <input
        ref={input}
        type="file"
        multiple
        hidden
        data-testid={`${testId}-input`}
        {...{ webkitdirectory: '', directory: '' }}
        onChange={(e) => {
          const files = e.target.files ? [...e.target.files] : [];
          e.target.value = '';
          if (files.length) onPick(files);
        }}
      />
    </span>
  );
}
