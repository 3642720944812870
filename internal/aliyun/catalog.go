package aliyun

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
)

// errorsTSV is a copy of the error table documented for
// ReleaseInstanceConnection: a header line, then http_status, code, message
// (English, as the API answers) and message_zh (Simplified Chinese, as
// Alibaba Cloud's Chinese documentation gives it) separated by tabs.
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

// messageFlowControlZh is MessageFlowControl in Simplified Chinese.
const messageFlowControlZh = "请求因用户流控被拒绝。"

// commonErrors are the codes not in errors.tsv. Statuses and messages are the
// ones Alibaba Cloud's API gateway returns; see
// /work/shared/reference/alibaba-rds-api.md §5 and §6.
var commonErrors = []struct {
	status    int
	code      string
	message   string
	messageZh string
}{
	{400, CodeThrottling, MessageFlowControl, messageFlowControlZh},
	{400, CodeThrottlingUser, MessageFlowControl, messageFlowControlZh},
	{400, CodeThrottlingAPI, MessageFlowControl, messageFlowControlZh},
	{403, CodeForbiddenRAM, "User not authorized to operate on the specified resource, or this API doesn't support RAM.",
		"用户无权操作指定的资源，或该 API 不支持 RAM 授权。"},
	{403, CodeNoPermission, "You are not authorized to do this action. You should be authorized by RAM.",
		"您无权执行此操作，需要通过 RAM 授权。"},
	{403, CodeNotAuthorized, "You are not authorized to do this operation.", "您无权执行此操作。"},
	{400, CodeIncompleteSignature, "The request signature does not conform to Aliyun standards.", "请求签名不符合阿里云的规范。"},
	{404, CodeInvalidAccessKeyIDNotFound, "Specified access key is not found.", "指定的 AccessKey 不存在。"},
	{400, CodeSignatureDoesNotMatch, "Specified signature is not matched with our calculation.", "指定的签名与服务端计算的签名不匹配。"},
	{400, CodeSignatureNonceUsed, "Specified signature nonce was used already.", "指定的签名随机数（SignatureNonce）已被使用。"},
	{400, CodeInvalidTimeStampExpired, "Specified time stamp or date value is expired.", "指定的时间戳或日期已过期。"},
	{400, CodeInvalidTimeStampFormat, "Specified time stamp or date value is not well formatted.", "指定的时间戳或日期格式不正确。"},
	{404, CodeInvalidActionNotFound, "Specified api is not found, please check your url and method.", "指定的 API 不存在，请检查 URL 和请求方法。"},
	{400, CodeInvalidVersion, "Specified parameter Version is not valid.", "指定的 Version 参数无效。"},
	{500, CodeInternalError, "The request processing has failed due to some unknown error, exception or failure.",
		"由于未知的错误、异常或故障，请求处理失败。"},
	{503, CodeServiceUnavailable, "The request has failed due to a temporary failure of the server.", "服务端暂时故障，请求失败。"},
}

// CatalogEntry is one known RDS error code with the HTTP status and message
// the API answers it with, and how a caller should treat it.
type CatalogEntry struct {
	Code       string `json:"code"`
	HTTPStatus int    `json:"http_status"`
	// Message is the English message, as the API answers it.
	Message string `json:"message"`
	// MessageZh is the message in Simplified Chinese, as Alibaba Cloud's
	// Chinese documentation gives it (for people; the API answers Message).
	MessageZh string `json:"message_zh"`
	Class     Class  `json:"class"`
	Source    Source `json:"source"`
}

// MessageIn returns the entry's message in lang: the Chinese one for "zh"
// and its regional forms ("zh-CN", "zh-Hans"), the English one otherwise
// (and when no Chinese message is known).
func (e CatalogEntry) MessageIn(lang string) string {
	l := strings.ToLower(lang)
	if (l == "zh" || strings.HasPrefix(l, "zh-")) && e.MessageZh != "" {
		return e.MessageZh
	}
	return e.Message
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
			MessageZh:  c.messageZh,
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
		if len(fields) != 4 {
			return nil, fmt.Errorf("line %d: want 4 tab-separated fields, got %d", i+1, len(fields))
		}
		if strings.TrimSpace(fields[2]) == "" || strings.TrimSpace(fields[3]) == "" {
			return nil, fmt.Errorf("line %d: %s: a message is empty", i+1, fields[1])
		}
		status, err := strconv.Atoi(fields[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: http_status: %w", i+1, err)
		}
		entries = append(entries, CatalogEntry{
			Code:       fields[1],
			HTTPStatus: status,
			Message:    fields[2],
			MessageZh:  fields[3],
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
