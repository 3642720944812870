// Package fleet finds the public endpoints of RDS instances across the
// Alibaba Cloud accounts and regions rdsgate is configured with: for each
// account (accounts.json's, or the one default account) and each of its
// regions it pages through DescribeDBInstances, asks DescribeDBInstanceNetInfo
// for every instance, and hands over one request.Target per connection whose
// IPType is Public, as it finds them.
//
// Every call first waits for a slot of its account's quota for its
// operation (Limiter): QuotaLimiter takes the slots of the rate limiter all
// replicas share through PostgreSQL, LocalLimiter spaces calls in this
// process for the CLI without a database. Accounts are scanned in parallel,
// each within its own quota; the instances of one account as fast as that
// quota allows.
//
// A failure of one account (its role cannot be assumed), region or instance
// is reported (Handlers.Failure, and a *ScanError at the end) while the rest
// of the scan goes on.
package fleet
