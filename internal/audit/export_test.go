package audit

import "time"

// SetSpacing sets the least time between the starts of two rounds of s.Run.
func SetSpacing(s *Sealer, d time.Duration) { s.spacing = d }

// OnRound makes s.Run tell f how many events each round sealed.
func OnRound(s *Sealer, f func(n int)) { s.rounds = f }
