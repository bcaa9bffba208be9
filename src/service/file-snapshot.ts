import fs from 'node:fs';
import path from 'node:path';

interface SavedFile {
  content: Buffer;
  mode: number;
}

export interface SnapshotTargets {
  files: string[];
  /** Saved file by file: small folders only (the TLS folder holds four PEMs). */
  folders: string[];
  /** Not read, only noted: removed on restore when they are new and empty (the models folder). */
  madeFolders: string[];
}

/**
 * Files and folders as they were before an install wrote them, so that a failed install leaves
 * the machine as it found it: what did not exist before is removed on restore, what did is
 * written back with its mode.
 */
export class FileSnapshot {
  private readonly files = new Map<string, SavedFile | undefined>();
  private readonly folders = new Map<string, boolean>();
  private readonly madeFolders = new Map<string, boolean>();

  constructor(targets: SnapshotTargets) {
    for (const file of targets.files) this.files.set(file, read(file));
    for (const folder of targets.folders) {
      const existed = fs.existsSync(folder);
      this.folders.set(folder, existed);
      if (existed) for (const file of filesIn(folder)) this.files.set(file, read(file));
    }
    for (const folder of targets.madeFolders) this.madeFolders.set(folder, fs.existsSync(folder));
  }

  /** Puts everything back; returns what it changed, for the user to see. */
  restore(): string[] {
    const changed: string[] = [];
    // Files of a folder that is new are removed with it below.
    for (const folder of this.folders.keys()) {
      if (fs.existsSync(folder)) for (const file of filesIn(folder)) if (!this.files.has(file)) this.files.set(file, undefined);
    }
    for (const [file, saved] of this.files) {
      if (saved === undefined) {
        if (!fs.existsSync(file)) continue;
        fs.rmSync(file, { force: true });
        changed.push(`removed ${file}`);
      } else if (!fs.existsSync(file) || !fs.readFileSync(file).equals(saved.content) || (fs.statSync(file).mode & 0o777) !== saved.mode) {
        fs.writeFileSync(file, saved.content, { mode: saved.mode });
        fs.chmodSync(file, saved.mode);
        changed.push(`restored ${file}`);
      }
    }
    // Deepest first, so a folder inside another new one goes before its parent is looked at.
    const newFolders = [...this.folders, ...this.madeFolders].filter(([, existed]) => !existed).map(([folder]) => folder);
    for (const folder of newFolders.sort((a, b) => b.length - a.length)) {
      if (fs.existsSync(folder) && fs.readdirSync(folder).length === 0) {
        fs.rmdirSync(folder);
        changed.push(`removed ${folder}`);
      }
    }
    return changed;
  }
}

function read(file: string): SavedFile | undefined {
  try {
    return { content: fs.readFileSync(file), mode: fs.statSync(file).mode & 0o777 };
  } catch {
    return undefined;
  }
}

function filesIn(folder: string): string[] {
  return fs
    .readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}
