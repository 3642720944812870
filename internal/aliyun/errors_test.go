package aliyun_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	apiErr := &aliyun.APIError{Code: "Endpoint.NotFound", HTTPStatus: 404, Class: aliyun.ClassPermanent}
	tests := []struct {
		name string
		err  error
		want aliyun.Class
	}{
		{"nil", nil, ""},
		{"APIError", apiErr, aliyun.ClassPermanent},
		{"wrapped APIError", fmt.Errorf("execute: %w", apiErr), aliyun.ClassPermanent},
		{"tea.SDKError throttling", &tea.SDKError{Code: tea.String("Throttling.User"), StatusCode: tea.Int(400)}, aliyun.ClassRetryable},
		{"tea.SDKError 403", &tea.SDKError{Code: tea.String("Forbidden.RAM"), StatusCode: tea.Int(403)}, aliyun.ClassPermanent},
		{"tea.SDKError 500", &tea.SDKError{Code: tea.String("InternalError"), StatusCode: tea.Int(500)}, aliyun.ClassUnknownOutcome},
		{"tea.SDKError 503 ServiceUnavailable", &tea.SDKError{Code: tea.String("ServiceUnavailable"), StatusCode: tea.Int(503)}, aliyun.ClassRetryable},
		{"tea.SDKError without status", &tea.SDKError{Code: tea.String("InvalidCredentials")}, aliyun.ClassPermanent},
		{"openapi ThrottlingError", &openapi.ThrottlingError{Code: tea.String("Throttling"), StatusCode: tea.Int(400)}, aliyun.ClassRetryable},
		{"openapi ClientError", &openapi.ClientError{Code: tea.String("SignatureDoesNotMatch"), StatusCode: tea.Int(400)}, aliyun.ClassPermanent},
		{"openapi ServerError 503 ServiceUnavailable", &openapi.ServerError{Code: tea.String("ServiceUnavailable"), StatusCode: tea.Int(503)}, aliyun.ClassRetryable},
		{"openapi ServerError 503 other code", &openapi.ServerError{Code: tea.String("Overloaded"), StatusCode: tea.Int(503)}, aliyun.ClassUnknownOutcome},
		{"openapi ServerError 500 InternalError", &openapi.ServerError{Code: tea.String("InternalError"), StatusCode: tea.Int(500)}, aliyun.ClassUnknownOutcome},
		{"openapi ServerError 500 ExternalFailure", &openapi.ServerError{Code: tea.String("ExternalFailure"), StatusCode: tea.Int(500)}, aliyun.ClassUnknownOutcome},
		{"openapi ServerError 500 InvokeProxyFailure", &openapi.ServerError{Code: tea.String("InvokeProxyFailure"), StatusCode: tea.Int(500)}, aliyun.ClassUnknownOutcome},
		{"openapi ServerError 500 RequestMetaDataFailed", &openapi.ServerError{Code: tea.String("RequestMetaDataFailed"), StatusCode: tea.Int(500)}, aliyun.ClassUnknownOutcome},
		{"openapi ServerError 502 without code", &openapi.ServerError{StatusCode: tea.Int(502)}, aliyun.ClassUnknownOutcome},
		{"openapi ServerError 504 without code", &openapi.ServerError{StatusCode: tea.Int(504)}, aliyun.ClassUnknownOutcome},
		{"openapi ThrottlingError 503", &openapi.ThrottlingError{Code: tea.String("Throttling.User"), StatusCode: tea.Int(503)}, aliyun.ClassRetryable},
		{"dial error", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, aliyun.ClassRetryable},
		{"DNS error", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, aliyun.ClassRetryable},
		{"read reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, aliyun.ClassUnknownOutcome},
		{"deadline", context.DeadlineExceeded, aliyun.ClassUnknownOutcome},
		{"anything else", errors.New("unexpected EOF"), aliyun.ClassUnknownOutcome},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := aliyun.Classify(tt.err); got != tt.want {
				t.Fatalf("Classify = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAPIErrorString(t *testing.T) {
	t.Parallel()
	answered := &aliyun.APIError{
		Action: "ReleaseInstanceConnection", Code: "Throttling.User", HTTPStatus: 400,
		Message: aliyun.MessageFlowControl, RequestID: "65BDA532-28AF-4122-AA39-B382721EEE64",
		Class: aliyun.ClassRetryable, RetryAfter: time.Second,
	}
	want := "rds ReleaseInstanceConnection: Throttling.User (HTTP 400, retryable): Request was denied due to user flow control. [request id 65BDA532-28AF-4122-AA39-B382721EEE64]"
	if got := answered.Error(); got != want {
		t.Fatalf("Error() = %q\nwant      %q", got, want)
	}
	transport := &aliyun.APIError{Action: "DescribeDBInstanceNetInfo", Message: "no answer: EOF", Class: aliyun.ClassUnknownOutcome, Err: errors.New("EOF")}
	if got := transport.Error(); got != "rds DescribeDBInstanceNetInfo: unknown_outcome: no answer: EOF" {
		t.Fatalf("Error() = %q", got)
	}
	if errors.Unwrap(transport) == nil {
		t.Fatal("Unwrap lost the cause")
	}
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	entries := aliyun.Catalog()
	documented, common := 0, 0
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.Code] {
			t.Errorf("duplicate %s", e.Code)
		}
		seen[e.Code] = true
		switch e.Source {
		case aliyun.SourceDocumented:
			documented++
		case aliyun.SourceCommon:
			common++
		default:
			t.Errorf("%s: source %q", e.Code, e.Source)
		}
		if e.HTTPStatus < 400 || e.HTTPStatus > 599 || e.Message == "" {
			t.Errorf("%s: status %d message %q", e.Code, e.HTTPStatus, e.Message)
		}
		got, ok := aliyun.LookupError(e.Code)
		if !ok || got != e {
			t.Errorf("LookupError(%s) = %+v, %v", e.Code, got, ok)
		}
	}
	if documented != 61 {
		t.Errorf("%d documented codes, want 61", documented)
	}
	// Every row of errors.tsv, read here without the package's parser, is a
	// documented entry of the catalog as written.
	raw, err := os.ReadFile("errors.tsv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")[1:]
	if len(lines) != 61 {
		t.Errorf("errors.tsv has %d codes, want 61", len(lines))
	}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("errors.tsv line %d: %q", i+2, line)
		}
		status, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("errors.tsv line %d: %v", i+2, err)
		}
		if e, ok := aliyun.LookupError(f[1]); !ok || e.HTTPStatus != status || e.Message != f[2] || e.MessageZh != f[3] || e.Source != aliyun.SourceDocumented {
			t.Errorf("errors.tsv line %d %q: catalog has %+v", i+2, line, e)
		}
	}
	for _, code := range []string{"Throttling", "Throttling.User", "Throttling.Api", "Forbidden.RAM", "NoPermission", "NotAuthorized", "SignatureDoesNotMatch", "InvalidAccessKeyId.NotFound", "SignatureNonceUsed"} {
		if !seen[code] {
			t.Errorf("common code %s missing", code)
		}
	}

	spot := []aliyun.CatalogEntry{
		{Code: "pay.noCreditCard", HTTPStatus: 400, Message: "Account not bound to credit card.", MessageZh: "账户未绑定信用卡。", Class: aliyun.ClassPermanent, Source: aliyun.SourceDocumented},
		{Code: "Pay.NoCreditCard", HTTPStatus: 400, Message: "No credit cards.", MessageZh: "没有可用的信用卡。", Class: aliyun.ClassPermanent, Source: aliyun.SourceDocumented},
		{Code: "Endpoint.NotFound", HTTPStatus: 404, Message: "Specified endpoint is not existed.", MessageZh: "指定的连接地址不存在。", Class: aliyun.ClassPermanent, Source: aliyun.SourceDocumented},
		{Code: "InvokeProxyFailure", HTTPStatus: 500, Message: "The request processing has failed due to service failure of rds api.", MessageZh: "RDS API 服务故障，请求处理失败。", Class: aliyun.ClassUnknownOutcome, Source: aliyun.SourceDocumented},
		{Code: "InternalError", HTTPStatus: 500, Message: "The request processing has failed due to some unknown error, exception or failure.", MessageZh: "由于未知的错误、异常或故障，请求处理失败。", Class: aliyun.ClassUnknownOutcome, Source: aliyun.SourceCommon},
		{Code: "ServiceUnavailable", HTTPStatus: 503, Message: "The request has failed due to a temporary failure of the server.", MessageZh: "服务端暂时故障，请求失败。", Class: aliyun.ClassRetryable, Source: aliyun.SourceCommon},
		{Code: "Throttling.User", HTTPStatus: 400, Message: "Request was denied due to user flow control.", MessageZh: "请求因用户流控被拒绝。", Class: aliyun.ClassRetryable, Source: aliyun.SourceCommon},
		{Code: "NoPermission", HTTPStatus: 403, Message: "You are not authorized to do this action. You should be authorized by RAM.", MessageZh: "您无权执行此操作，需要通过 RAM 授权。", Class: aliyun.ClassPermanent, Source: aliyun.SourceCommon},
	}
	for _, want := range spot {
		if got, ok := aliyun.LookupError(want.Code); !ok || got != want {
			t.Errorf("LookupError(%q) = %+v, %v\nwant %+v", want.Code, got, ok, want)
		}
	}
	for _, code := range []string{"PAY.NOCREDITCARD", "endpoint.notfound", ""} {
		if _, ok := aliyun.LookupError(code); ok {
			t.Errorf("LookupError(%q) matched; codes are case-sensitive", code)
		}
	}
	// Catalog returns a copy.
	entries[0].Code = "mutated"
	if aliyun.Catalog()[0].Code == "mutated" {
		t.Fatal("Catalog exposes its backing array")
	}
	if !strings.Contains(aliyun.Catalog()[0].Code, ".") {
		t.Fatalf("first entry %q is not the TSV's first row", aliyun.Catalog()[0].Code)
	}
}

// TestCatalogMessagesInBothLanguages holds the catalogue complete: every
// code, documented or common, has an English and a Chinese message, the
// Chinese one written in Chinese and keeping the English one's format verbs
// (SqlExecuteFailedOrTimeout's %s), and MessageIn picks by language.
func TestCatalogMessagesInBothLanguages(t *testing.T) {
	t.Parallel()
	han := regexp.MustCompile(`\p{Han}`)
	verbs := regexp.MustCompile(`%[a-z]`)
	for _, e := range aliyun.Catalog() {
		if strings.TrimSpace(e.Message) == "" || strings.TrimSpace(e.MessageZh) == "" {
			t.Errorf("%s: message %q, message_zh %q: both are needed", e.Code, e.Message, e.MessageZh)
			continue
		}
		if !han.MatchString(e.MessageZh) {
			t.Errorf("%s: message_zh %q is not Chinese", e.Code, e.MessageZh)
		}
		if han.MatchString(e.Message) {
			t.Errorf("%s: message %q is not English", e.Code, e.Message)
		}
		if a, b := strings.Join(verbs.FindAllString(e.Message, -1), ","), strings.Join(verbs.FindAllString(e.MessageZh, -1), ","); a != b {
			t.Errorf("%s: message has verbs %q, message_zh %q", e.Code, a, b)
		}
		for _, lang := range []string{"zh-CN", "zh", "zh-Hans", "ZH-cn"} {
			if got := e.MessageIn(lang); got != e.MessageZh {
				t.Errorf("%s: MessageIn(%q) = %q, want the Chinese message", e.Code, lang, got)
			}
		}
		for _, lang := range []string{"en", "", "en-US", "fr", "zhx"} {
			if got := e.MessageIn(lang); got != e.Message {
				t.Errorf("%s: MessageIn(%q) = %q, want the English message", e.Code, lang, got)
			}
		}
	}
	// Without a Chinese message, every language gets the English one.
	if got := (aliyun.CatalogEntry{Message: "m"}).MessageIn("zh-CN"); got != "m" {
		t.Errorf("MessageIn without message_zh = %q", got)
	}
}
