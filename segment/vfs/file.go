package vfs

import (
	"os"
	"path/filepath"
)

// WriteFile atomically replaces name with data: it writes name+".tmp",
// syncs it, renames it over name and syncs the directory, so a crash leaves
// either the old or the new file, and the new one is durable on return. A
// failed write removes its .tmp file; one a crash leaves is the caller's to
// remove at its next start.
func WriteFile(fsys FS, name string, data []byte) error {
	return replaceFile(fsys, name, data, true)
}

// ReplaceFile replaces name with data as WriteFile does but syncs nothing,
// for files whose loss costs only freshness. A crash leaves the old file or
// the new one, or, where the filesystem may commit the rename before the
// data (ext4 writes out a file renamed over another first, its
// auto_da_alloc), an empty or torn one: its reader must detect that.
func ReplaceFile(fsys FS, name string, data []byte) error {
	return replaceFile(fsys, name, data, false)
}

func replaceFile(fsys FS, name string, data []byte, durable bool) error {
	tmp := name + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, name)
	}
	if err == nil && durable {
		err = fsys.SyncDir(filepath.Dir(name))
	}
	if err != nil {
		// Best effort: a leftover would hold blocks a full disk needs; the
		// next write replaces it anyway.
		_ = fsys.Remove(tmp)
	}
	return err
}
