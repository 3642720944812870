// Package aliyun is rdsgate's typed client for the four Alibaba Cloud RDS
// (API version 2014-08-15) operations the gateway needs:
// ReleaseInstanceConnection, DescribeDBInstanceNetInfo,
// DescribeDBInstanceAttribute and DescribeDBInstances. Clients hands out
// clients per account role (assumed through STS with credentials-go),
// region and role session; LoadRootCAs and SetDefaultRootCAs trust an
// extra CA.
//
// It owns the wire format (the generated rds-20140815 SDK's parameters sent
// through darabonba-openapi, one attempt per call, bounded by Config.Timeout),
// the catalog of documented error codes (errors.tsv), and the classification
// of every failure as an *APIError whose Class tells the caller whether a
// retry is safe: ClassRetryable, ClassPermanent, or ClassUnknownOutcome (the
// call may have taken effect: check with DescribeDBInstanceNetInfo before
// trying again). Secrets never appear in logs or error strings.
//
// It must not import any other rdsgate package: the executor, the simulator
// and the application wiring import it.
//
// docs/ALIYUN.md has the classification rules and the catalog.
package aliyun
