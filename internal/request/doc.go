// Package request owns the domain of a release request: its fields and their
// validation, its states and the only legal transitions between them, the
// quorum rules for approvals, and the canonical payload hash that every
// approval is bound to.
//
// It imports nothing else of rdsgate's, so that the rules can be read and
// tested on their own; handlers, the store and the executor all come here to
// ask whether something is allowed.
package request
