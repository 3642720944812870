// Package aliyun is rdsgate's typed client for the three Alibaba Cloud RDS
// (API version 2014-08-15) operations the gateway needs:
// ReleaseInstanceConnection, DescribeDBInstanceNetInfo and
// DescribeDBInstanceAttribute.
//
// Calls go through github.com/alibabacloud-go/darabonba-openapi/v2
// (CallApiWithCtx, ACS3-HMAC-SHA256 signature) with exactly the
// openapiutil.Params the generated rds-20140815 SDK uses, so the wire format is
// the SDK's. Every call is bounded by Config.Timeout through its context, and
// the SDK's own retries are off: one call is one attempt, and the caller
// decides what to do with the outcome.
//
// Every failure is returned as an *APIError whose Class tells the caller
// whether retrying is safe:
//
//   - ClassRetryable: the API answered with a throttling code (Throttling,
//     Throttling.User, Throttling.Api) or with 503 ServiceUnavailable, or the
//     request never left the process: no connection was obtained (DNS
//     failure, connection refused, TLS handshake failure, proxy failure, or
//     the deadline expired while connecting).
//   - ClassPermanent: the API answered with any other 4xx (parameter errors,
//     Forbidden.RAM / NoPermission / NotAuthorized, signature errors), or the
//     client could not even build the request (no usable credentials).
//   - ClassUnknownOutcome: any other 5xx answer (500 InternalError,
//     ExternalFailure, InvokeProxyFailure, RequestMetaDataFailed, a proxy's
//     502 or 504, a 503 without the ServiceUnavailable code): the server
//     failed, possibly after the work was done. Also: a connection was handed
//     to the request, so the request may have reached RDS, but no HTTP status
//     came back (deadline after the connection was obtained, connection reset
//     or EOF while waiting for the answer), or a status came back but the
//     body could not be read. A ReleaseInstanceConnection in this class may
//     or may not have happened; check with DescribeDBInstanceNetInfo before
//     trying again. An API error answer in this class still carries its
//     RequestId and Code.
//
// The rule is tracked per call with net/http/httptrace (GotConn), not guessed
// from error strings; Classify applies a structural fallback (dial and DNS
// errors are retryable, everything else unknown) to errors that did not come
// from this package.
//
// The catalog (LookupError, Catalog) holds the 61 error codes documented for
// ReleaseInstanceConnection (errors.tsv, embedded) plus the throttling,
// RAM-denial and signature codes the gateway and the simulator use.
//
// Secrets never appear in logs or error strings: Config and Client implement
// fmt.Stringer, fmt.GoStringer and slog.LogValuer with the secret masked.
//
// This package imports nothing else from rdsgate.
package aliyun
