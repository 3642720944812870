package store

// SetQueuedHook lets tests see the Filer's queue grow.
func SetQueuedHook(f *Filer, h func(n int)) { f.queued = h }
