package aliyun

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
)

// errorsTSV is a copy of the error table documented for
// ReleaseInstanceConnection: a header line, then http_status, code and message
// separated by tabs.
//
//go:embed errors.tsv
var errorsTSV string

// Source says where a catalog entry comes from.
type Source string

const (
	// SourceDocumented marks the codes documented for ReleaseInstanceConnection
	// (errors.tsv).
	SourceDocumented Source = "documented"
	// SourceCommon marks codes shared by all Alibaba Cloud APIs: throttling,
	// RAM denials, signature and timestamp errors, generic server errors.
	SourceCommon Source = "common"
)

// Codes used by the gateway and the simulator outside the documented table.
const (
	CodeThrottling                  = "Throttling"
	CodeThrottlingUser              = "Throttling.User"
	CodeThrottlingAPI               = "Throttling.Api"
	CodeForbiddenRAM                = "Forbidden.RAM"
	CodeNoPermission                = "NoPermission"
	CodeNotAuthorized               = "NotAuthorized"
	CodeIncompleteSignature         = "IncompleteSignature"
	CodeInvalidAccessKeyIDNotFound  = "InvalidAccessKeyId.NotFound"
	CodeSignatureDoesNotMatch       = "SignatureDoesNotMatch"
	CodeSignatureNonceUsed          = "SignatureNonceUsed"
	CodeInvalidTimeStampExpired     = "InvalidTimeStamp.Expired"
	CodeInvalidTimeStampFormat      = "InvalidTimeStamp.Format"
	CodeInvalidActionNotFound       = "InvalidAction.NotFound"
	CodeInvalidVersion              = "InvalidVersion"
	CodeInternalError               = "InternalError"
	CodeServiceUnavailable          = "ServiceUnavailable"
	CodeInvalidDBInstanceIDNotFound = "InvalidDBInstanceId.NotFound"
	CodeEndpointNotFound            = "Endpoint.NotFound"
	CodeRequiredParamNotFound       = "RequiredParam.NotFound"
	CodeParametersInvalid           = "Parameters.Invalid"
	CodeInvalidStatusFormat         = "InvalideStatus.Format"
)

// MessageFlowControl is the message Alibaba Cloud returns with the throttling
// codes.
const MessageFlowControl = "Request was denied due to user flow control."

// commonErrors are the codes not in errors.tsv. Statuses and messages are the
// ones Alibaba Cloud's API gateway returns; see
// /work/shared/reference/alibaba-rds-api.md §5 and §6.
var commonErrors = []struct {
	status  int
	code    string
	message string
}{
	{400, CodeThrottling, MessageFlowControl},
	{400, CodeThrottlingUser, MessageFlowControl},
	{400, CodeThrottlingAPI, MessageFlowControl},
	{403, CodeForbiddenRAM, "User not authorized to operate on the specified resource, or this API doesn't support RAM."},
	{403, CodeNoPermission, "You are not authorized to do this action. You should be authorized by RAM."},
	{403, CodeNotAuthorized, "You are not authorized to do this operation."},
	{400, CodeIncompleteSignature, "The request signature does not conform to Aliyun standards."},
	{404, CodeInvalidAccessKeyIDNotFound, "Specified access key is not found."},
	{400, CodeSignatureDoesNotMatch, "Specified signature is not matched with our calculation."},
	{400, CodeSignatureNonceUsed, "Specified signature nonce was used already."},
	{400, CodeInvalidTimeStampExpired, "Specified time stamp or date value is expired."},
	{400, CodeInvalidTimeStampFormat, "Specified time stamp or date value is not well formatted."},
	{404, CodeInvalidActionNotFound, "Specified api is not found, please check your url and method."},
	{400, CodeInvalidVersion, "Specified parameter Version is not valid."},
	{500, CodeInternalError, "The request processing has failed due to some unknown error, exception or failure."},
	{503, CodeServiceUnavailable, "The request has failed due to a temporary failure of the server."},
}

// CatalogEntry is one known RDS error code with the HTTP status and message
// the API answers it with, and how a caller should treat it.
type CatalogEntry struct {
	Code       string `json:"code"`
	HTTPStatus int    `json:"http_status"`
	Message    string `json:"message"`
	Class      Class  `json:"class"`
	Source     Source `json:"source"`
}

// catalog is parsed once at init; a malformed embedded table is a build
// defect, so it panics.
var catalog, catalogIndex = mustParseCatalog(errorsTSV)

func mustParseCatalog(tsv string) ([]CatalogEntry, map[string]int) {
	entries, err := parseCatalog(tsv)
	if err != nil {
		panic(fmt.Sprintf("aliyun: embedded errors.tsv: %v", err))
	}
	for _, c := range commonErrors {
		entries = append(entries, CatalogEntry{
			Code:       c.code,
			HTTPStatus: c.status,
			Message:    c.message,
			Class:      classForResponse(c.code, c.status),
			Source:     SourceCommon,
		})
	}
	index := make(map[string]int, len(entries))
	for i, e := range entries {
		if _, dup := index[e.Code]; dup {
			panic(fmt.Sprintf("aliyun: duplicate catalog code %q", e.Code))
		}
		index[e.Code] = i
	}
	return entries, index
}

func parseCatalog(tsv string) ([]CatalogEntry, error) {
	var entries []CatalogEntry
	lines := strings.Split(strings.TrimRight(tsv, "\n"), "\n")
	for i, line := range lines {
		line = strings.TrimRight(line, "\r")
		if i == 0 || line == "" {
			continue // header
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 3 {
			return nil, fmt.Errorf("line %d: want 3 tab-separated fields, got %d", i+1, len(fields))
		}
		status, err := strconv.Atoi(fields[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: http_status: %w", i+1, err)
		}
		entries = append(entries, CatalogEntry{
			Code:       fields[1],
			HTTPStatus: status,
			Message:    fields[2],
			Class:      classForResponse(fields[1], status),
			Source:     SourceDocumented,
		})
	}
	return entries, nil
}

// LookupError returns the catalog entry for code. Codes are case-sensitive:
// "pay.noCreditCard" and "Pay.NoCreditCard" are different entries.
func LookupError(code string) (CatalogEntry, bool) {
	i, ok := catalogIndex[code]
	if !ok {
		return CatalogEntry{}, false
	}
	return catalog[i], true
}

// Catalog returns every known code: the documented table in its order, then
// the common codes. The slice is a copy.
func Catalog() []CatalogEntry {
	out := make([]CatalogEntry, len(catalog))
	copy(out, catalog)
	return out
}
