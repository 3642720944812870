package store

// SetQueuedHook lets tests see the Filer's queue grow.
func SetQueuedHook(f *Filer, h func(n int)) { f.queued = h }

// RequesterLockSeed is the seed of the requesters' advisory lock keys.
const RequesterLockSeed = requesterLockSeed

// Running is how many transactions f has running or about to start.
func Running(f *Filer) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running
}

// SetLeftHook lets tests see a goroutine leave waiting filings to another
// transaction.
func SetLeftHook(f *Filer, h func()) { f.left = h }
