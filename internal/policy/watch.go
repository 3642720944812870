package policy

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long the files must stay quiet after a change before Watch
// reloads: editors and deploy tools write a file in several steps.
const settle = 100 * time.Millisecond

// Watch reloads on SIGHUP and when the files of Dir (with its ram/
// directory) or PolicyDir change,
// until ctx is done; it returns nil then. A reload that fails keeps the old
// revision serving and is logged and reported to OnReload; Watch goes on.
// With neither directory set (the embedded examples) only SIGHUP applies.
func (e *Engine) Watch(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var events <-chan fsnotify.Event
	var errs <-chan error
	var w *fsnotify.Watcher
	if dirs := e.watchedDirs(); len(dirs) > 0 {
		var err error
		if w, err = fsnotify.NewWatcher(); err != nil {
			return fmt.Errorf("watch policy files: %w", err)
		}
		defer w.Close()
		for _, d := range dirs {
			if err := w.Add(d); err != nil {
				return fmt.Errorf("watch policy files: %w", err)
			}
		}
		events, errs = w.Events, w.Errors
		e.log.InfoContext(ctx, "watching policy files", slog.Any("dirs", dirs))
	}
	if e.watching != nil {
		e.watching()
	}

	timer := time.NewTimer(settle)
	timer.Stop()
	defer timer.Stop()
	reload := func(why string) {
		e.log.InfoContext(ctx, "reloading policy", slog.String("trigger", why))
		_ = e.Reload(ctx) // logged and reported by Reload
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			reload("SIGHUP")
		case ev := <-events:
			// Dir's ram/ (the accounts' RAM data) is watched from the
			// moment it appears; it may hold no file yet.
			if e.opts.Dir != "" && filepath.Clean(ev.Name) == filepath.Join(e.opts.Dir, ramDirName) && ev.Has(fsnotify.Create) {
				if err := w.Add(ev.Name); err != nil {
					e.log.WarnContext(ctx, "watching policy files", slog.Any("error", err))
				}
				timer.Reset(settle)
			}
			if relevant(ev) {
				timer.Reset(settle)
			}
		case err := <-errs:
			e.log.WarnContext(ctx, "watching policy files", slog.Any("error", err))
		case <-timer.C:
			reload("file change")
		}
	}
}

// watchedDirs are Dir with its ram/ when it exists, and PolicyDir with its
// subdirectories.
func (e *Engine) watchedDirs() []string {
	var dirs []string
	if e.opts.Dir != "" {
		dirs = append(dirs, e.opts.Dir)
		if fi, err := os.Stat(filepath.Join(e.opts.Dir, ramDirName)); err == nil && fi.IsDir() {
			dirs = append(dirs, filepath.Join(e.opts.Dir, ramDirName))
		}
	}
	if e.opts.PolicyDir != "" {
		_ = filepath.WalkDir(e.opts.PolicyDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	return dirs
}

// relevant reports whether ev may change a revision: a data file, a Rego or
// JSON file, or the "..data" link Kubernetes swaps when a ConfigMap changes.
func relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := filepath.Base(ev.Name)
	switch filepath.Ext(name) {
	case ".json", ".yaml", ".yml", ".rego":
		return true
	}
	return name == "..data"
}
