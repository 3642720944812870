package rdssim

import (
	"net/http"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

// Codes the simulator answers that the aliyun package's catalog does not
// hold: STS AssumeRole's documented codes, the common (POP) security-token
// codes, and DescribeDBInstances' paging codes. docs/SIMULATOR.md names
// their sources.
const (
	CodeInvalidSecurityTokenExpired  = "InvalidSecurityToken.Expired"
	CodeInvalidSecurityTokenMalform  = "InvalidSecurityToken.Malformed"
	CodeInvalidSecurityTokenMismatch = "InvalidSecurityToken.MismatchWithAccessKey"
	CodeMissingSecurityToken         = "MissingSecurityToken"
	CodeInvalidSignatureMethod       = "InvalidSignatureMethod"
	CodeInvalidParameterRoleArn      = "InvalidParameter.RoleArn"
	CodeInvalidParameterSessionName  = "InvalidParameter.RoleSessionName"
	CodeInvalidParameterDuration     = "InvalidParameter.DurationSeconds"
	CodeInvalidParameterExternalID   = "InvalidParameter.ExternalId"
	CodeInvalidParameterPolicy       = "InvalidParameter.PolicyGrammar"
	CodeInvalidParameterPolicySize   = "InvalidParameter.PolicySize"
	CodeEntityNotExistRole           = "EntityNotExist.Role"
	CodeInvalidPageSize              = "InvalidPageSize.Malformed"
	CodeInvalidPageNumber            = "InvalidPageNumber.Malformed"
	CodeMissingRegionID              = "MissingRegionId"
)

// simError is an entry of the simulator's own error table.
type simError struct {
	status  int
	message string
}

var simErrors = map[string]simError{
	CodeInvalidSecurityTokenExpired:  {http.StatusBadRequest, "Specified SecurityToken is expired."},
	CodeInvalidSecurityTokenMalform:  {http.StatusBadRequest, "Specified SecurityToken is malformed."},
	CodeInvalidSecurityTokenMismatch: {http.StatusBadRequest, "Specified SecurityToken mismatch with the AccessKey."},
	CodeMissingSecurityToken:         {http.StatusBadRequest, "SecurityToken is mandatory for this action."},
	CodeInvalidSignatureMethod:       {http.StatusBadRequest, "Specified signature method is not valid."},
	CodeInvalidParameterRoleArn:      {http.StatusBadRequest, "The parameter RoleArn is wrongly formed."},
	CodeInvalidParameterSessionName:  {http.StatusBadRequest, "The parameter RoleSessionName is wrongly formed."},
	CodeInvalidParameterDuration:     {http.StatusBadRequest, "The Min/Max value of DurationSeconds is 15min/12hr."},
	CodeInvalidParameterExternalID:   {http.StatusBadRequest, "The parameter ExternalId is wrongly formed."},
	CodeInvalidParameterPolicy:       {http.StatusBadRequest, "The parameter Policy has not passed grammar check."},
	CodeInvalidParameterPolicySize:   {http.StatusBadRequest, "The size of Policy must be smaller than 2048 bytes."},
	CodeEntityNotExistRole:           {http.StatusNotFound, "The specified Role not exists."},
	CodeInvalidPageSize:              {http.StatusBadRequest, "Specified parameter PageSize is not valid."},
	CodeInvalidPageNumber:            {http.StatusBadRequest, "Specified parameter PageNumber is not valid."},
	CodeMissingRegionID:              {http.StatusBadRequest, "RegionId is mandatory for this action."},
}

// lookupError returns the HTTP status and message of code: from the aliyun
// catalog, else from the simulator's own table; unknown codes are 400.
func lookupError(code string) (int, string) {
	if e, ok := aliyun.LookupError(code); ok {
		return e.HTTPStatus, e.Message
	}
	if e, ok := simErrors[code]; ok {
		return e.status, e.message
	}
	return http.StatusBadRequest, code
}
