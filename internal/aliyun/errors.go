package aliyun

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alibabacloud-go/tea/tea"
)

// Class tells a caller what a failed call means for a retry.
type Class string

const (
	// ClassRetryable means the operation was not performed and trying again
	// later is safe: a throttling answer, a 503 ServiceUnavailable answer, or a
	// request that never left the process (no connection could be obtained).
	ClassRetryable Class = "retryable"
	// ClassPermanent means the API refused the request (4xx other than
	// throttling, including RAM denials and signature errors) or the request
	// could not be built; the same request will fail again.
	ClassPermanent Class = "permanent"
	// ClassUnknownOutcome means the request may have reached the API and the
	// operation may or may not have happened: no usable answer came back, or
	// the answer was a server error (5xx other than 503 ServiceUnavailable,
	// e.g. 500 InternalError or a proxy's 502/504) that may have come after
	// the work was done.
	ClassUnknownOutcome Class = "unknown_outcome"
)

// APIError is the only error type returned by Client methods. It describes
// either an error answer from the API (HTTPStatus > 0, Code set) or a failure
// to get one (HTTPStatus == 0, Err set).
type APIError struct {
	// Action is the RDS action called, e.g. "ReleaseInstanceConnection".
	Action string
	// Code is the API error code, e.g. "Throttling.User"; empty when no
	// error body was received.
	Code string
	// Message is the API's message, or a description of the transport
	// failure.
	Message string
	// RequestID is the API's RequestId; empty when no answer was received.
	RequestID string
	// HTTPStatus is the HTTP status of the answer; 0 when none was received.
	HTTPStatus int
	// Recommend is the diagnosis URL Alibaba Cloud adds to error bodies.
	Recommend string
	// HostID is the API host that answered, e.g. "rds.aliyuncs.com".
	HostID string
	// RetryAfter is the wait the API asked for in its x-ratelimit-user-api /
	// x-ratelimit-user headers (TimeLeft, milliseconds); 0 when not given.
	RetryAfter time.Duration
	// AccessDeniedDetail is the parsed AccessDeniedDetail of 403 answers
	// (AuthAction, PolicyType, NoPermissionType, ...); nil otherwise.
	AccessDeniedDetail map[string]any
	// Class tells whether retrying is safe; see the package documentation.
	Class Class
	// Err is the underlying transport, context or decoding error; nil for
	// error answers from the API.
	Err error
}

// Error returns a one-line description without any secret.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(productOf(e.Action))
	b.WriteString(" ")
	b.WriteString(e.Action)
	b.WriteString(": ")
	if e.HTTPStatus > 0 && e.Code != "" {
		fmt.Fprintf(&b, "%s (HTTP %d, %s): %s", e.Code, e.HTTPStatus, e.Class, e.Message)
	} else {
		fmt.Fprintf(&b, "%s: %s", e.Class, e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request id %s]", e.RequestID)
	}
	return b.String()
}

// Unwrap returns the underlying transport, context or decoding error, so that
// errors.Is(err, context.DeadlineExceeded) works.
func (e *APIError) Unwrap() error { return e.Err }

// Classify returns the Class of err: the Class of an *APIError in its chain,
// the class of a darabonba-openapi or tea error, or, for any other error, the
// structural fallback (dial, DNS and TLS handshake errors are retryable,
// everything else is unknown_outcome). Classify(nil) is "".
func Classify(err error) Class {
	if err == nil {
		return ""
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Class
	}
	if e, ok := fromResponseError(err); ok {
		return e.Class
	}
	return classForTransport(err)
}

// classForResponse classifies an error answer from the API.
//
// Only answers that prove the operation was refused before it ran are
// retryable: throttling (whatever the status) and the gateway's 503
// ServiceUnavailable. Any other 5xx — 500 InternalError, ExternalFailure,
// InvokeProxyFailure, RequestMetaDataFailed, a proxy's 502 or 504, a 503
// without the gateway's code — may come after the backend released the
// endpoint, so its outcome is unknown: retrying blindly would get a 4xx
// Endpoint.NotFound and fail a request whose endpoint is gone.
func classForResponse(code string, status int) Class {
	switch {
	case code == CodeThrottling || code == CodeThrottlingUser || code == CodeThrottlingAPI:
		return ClassRetryable
	case status == 503 && code == CodeServiceUnavailable:
		return ClassRetryable
	case status >= 500:
		return ClassUnknownOutcome
	case status >= 400:
		return ClassPermanent
	default:
		// A 1xx-3xx status whose body could not be used: the API accepted
		// the request, so the operation may have happened.
		return ClassUnknownOutcome
	}
}

// classForTransport classifies an error that came without an HTTP status
// when no per-call trace is available: only errors that prove no connection
// existed are retryable.
func classForTransport(err error) Class {
	if beforeConnection(err) {
		return ClassRetryable
	}
	return ClassUnknownOutcome
}

// beforeConnection reports whether err proves the request was never written:
// name resolution, dialing and the TLS handshake all happen before net/http
// writes a single byte of the request.
func beforeConnection(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && (opErr.Op == "dial" || opErr.Op == "proxyconnect") {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var recErr tls.RecordHeaderError
	var verifyErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	return errors.As(err, &recErr) || errors.As(err, &verifyErr) ||
		errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &certInvalid)
}

// responseError is what darabonba-openapi's ClientError, ServerError and
// ThrottlingError have in common (all with pointer receivers).
type responseError interface {
	error
	GetCode() *string
	GetStatusCode() *int
	GetData() map[string]any
	GetRequestId() *string
	GetMessage() *string
}

type retryAfterError interface {
	GetRetryAfter() *int64
}

type accessDeniedError interface {
	GetAccessDeniedDetail() map[string]any
}

// fromResponseError converts the error answers of darabonba-openapi (raw, as
// returned with DisableSDKError) and of tea (*tea.SDKError, the default) into
// an APIError. It reports false for any other error.
func fromResponseError(err error) (*APIError, bool) {
	var sdkErr *tea.SDKError
	if errors.As(err, &sdkErr) {
		e := &APIError{
			Code:               tea.StringValue(sdkErr.Code),
			HTTPStatus:         tea.IntValue(sdkErr.StatusCode),
			Message:            tea.StringValue(sdkErr.Message),
			AccessDeniedDetail: sdkErr.AccessDeniedDetail,
		}
		if data := tea.StringValue(sdkErr.Data); data != "" {
			var body map[string]any
			if json.Unmarshal([]byte(data), &body) == nil {
				fillFromBody(e, body)
			}
		}
		e.Class = classForAnswer(e)
		return e, true
	}
	var respErr responseError
	if errors.As(err, &respErr) {
		e := &APIError{
			Code:       tea.StringValue(respErr.GetCode()),
			HTTPStatus: tea.IntValue(respErr.GetStatusCode()),
			RequestID:  tea.StringValue(respErr.GetRequestId()),
			Message:    tea.StringValue(respErr.GetMessage()),
		}
		fillFromBody(e, respErr.GetData())
		var ra retryAfterError
		if errors.As(err, &ra) {
			if ms := tea.Int64Value(ra.GetRetryAfter()); ms > 0 {
				e.RetryAfter = time.Duration(ms) * time.Millisecond
			}
		}
		var ad accessDeniedError
		if errors.As(err, &ad) && len(ad.GetAccessDeniedDetail()) > 0 {
			e.AccessDeniedDetail = ad.GetAccessDeniedDetail()
		}
		e.Class = classForAnswer(e)
		return e, true
	}
	return nil, false
}

// classForAnswer classifies a converted SDK error. Without a status the SDK
// failed before sending (e.g. "InvalidCredentials"): permanent.
func classForAnswer(e *APIError) Class {
	if e.HTTPStatus == 0 {
		return ClassPermanent
	}
	return classForResponse(e.Code, e.HTTPStatus)
}

// fillFromBody copies the fields of an error body into e. The body's Message
// replaces the SDK's decorated one ("code: 400, ... request id: ...").
func fillFromBody(e *APIError, body map[string]any) {
	if len(body) == 0 {
		return
	}
	get := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := body[k]; ok && v != nil {
				return fmt.Sprint(v)
			}
		}
		return ""
	}
	if v := get("Code", "code"); v != "" && e.Code == "" {
		e.Code = v
	}
	if v := get("Message", "message"); v != "" {
		e.Message = v
	}
	if v := get("RequestId", "requestId"); v != "" {
		e.RequestID = v
	}
	if v := get("HostId", "hostId"); v != "" {
		e.HostID = v
	}
	if v := get("Recommend", "recommend"); v != "" {
		e.Recommend = v
	}
	if e.AccessDeniedDetail == nil {
		if m, ok := body["AccessDeniedDetail"].(map[string]any); ok && len(m) > 0 {
			e.AccessDeniedDetail = m
		}
	}
}

// parseRetryAfter reads TimeLeft (milliseconds) out of the
// x-ratelimit-user-api and x-ratelimit-user headers, as darabonba-openapi
// does, taking the larger.
func parseRetryAfter(values ...string) time.Duration {
	var best int64
	for _, v := range values {
		for _, pair := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(pair), ":")
			if !ok || k != "TimeLeft" {
				continue
			}
			if n, err := strconv.ParseInt(val, 10, 64); err == nil && n > best {
				best = n
			}
		}
	}
	return time.Duration(best) * time.Millisecond
}

// productOf names the API an action belongs to, for error messages.
func productOf(action string) string {
	switch action {
	case ActionLookupEvents:
		return "actiontrail"
	case ActionListUsers, ActionListGroups, ActionListGroupsForUser, ActionListRoles, ActionGetRole, ActionListPolicies,
		ActionListPoliciesForUser, ActionListPoliciesForGrp, ActionListPoliciesForRole, ActionGetPolicy, ActionGetPolicyVersion:
		return "ram"
	}
	return "rds"
}
