package store

// SetQueuedHook lets tests see the Filer's queue grow.
func SetQueuedHook(f *Filer, h func(n int)) { f.queued = h }

// RequesterLockSeed is the seed of the requesters' advisory lock keys.
const RequesterLockSeed = requesterLockSeed
