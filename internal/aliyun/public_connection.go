package aliyun

import (
	"context"
	"net/http"
)

// ActionReleaseInstancePublicConnection is RDS's sibling of
// ReleaseInstanceConnection: it releases an instance's public endpoint too
// (Terraform's alicloud_db_connection deletes with it, and so does the
// ACS-RDS-ReleaseInstancePublicConnection OOS template).
const ActionReleaseInstancePublicConnection = "ReleaseInstancePublicConnection"

// MessagePublicEndpointNotFound is the message ReleaseInstancePublicConnection
// documents for Endpoint.NotFound, which it answers with HTTP 400 (where
// ReleaseInstanceConnection documents 404 "Specified endpoint is not
// existed.").
const MessagePublicEndpointNotFound = "Specified endpoint is not found."

// ReleaseInstancePublicConnectionRequest mirrors the rds-20140815 SDK model
// of the same name. Zero-valued fields are not sent. The API documents
// DBInstanceId and CurrentConnectionString as required; unlike
// ReleaseInstanceConnection it takes no InstanceNetworkType.
type ReleaseInstancePublicConnectionRequest struct {
	// DBInstanceId is the instance, e.g. "rm-uf6wjk5xxxxxxx".
	DBInstanceId string `json:"DBInstanceId,omitempty"`
	// CurrentConnectionString is the public endpoint to release.
	CurrentConnectionString string `json:"CurrentConnectionString,omitempty"`
	OwnerAccount            string `json:"OwnerAccount,omitempty"`
	OwnerId                 int64  `json:"OwnerId,omitempty"`
	ResourceOwnerAccount    string `json:"ResourceOwnerAccount,omitempty"`
	ResourceOwnerId         int64  `json:"ResourceOwnerId,omitempty"`
}

func (r ReleaseInstancePublicConnectionRequest) query() map[string]string {
	q := map[string]string{}
	setString(q, "DBInstanceId", r.DBInstanceId)
	setString(q, "CurrentConnectionString", r.CurrentConnectionString)
	setString(q, "OwnerAccount", r.OwnerAccount)
	setInt(q, "OwnerId", r.OwnerId)
	setString(q, "ResourceOwnerAccount", r.ResourceOwnerAccount)
	setInt(q, "ResourceOwnerId", r.ResourceOwnerId)
	return q
}

// ReleaseInstancePublicConnectionResponse is the answer to a successful
// ReleaseInstancePublicConnection: the body carries only the RequestId.
type ReleaseInstancePublicConnectionResponse struct {
	// HTTPStatus is the status of the answer (200).
	HTTPStatus int `json:"-"`
	// RequestId identifies the call at Alibaba Cloud.
	RequestId string `json:"RequestId"`
}

// ReleaseInstancePublicConnection releases an instance's public endpoint
// through the sibling API, with the same call path, error classification
// and logging as ReleaseInstanceConnection. On failure the error is an
// *APIError; see its Class before retrying.
func (c *Client) ReleaseInstancePublicConnection(ctx context.Context, req ReleaseInstancePublicConnectionRequest) (*ReleaseInstancePublicConnectionResponse, error) {
	var out ReleaseInstancePublicConnectionResponse
	status, err := c.call(ctx, ActionReleaseInstancePublicConnection, req.DBInstanceId, req.query(), &out)
	if err != nil {
		return nil, err
	}
	out.HTTPStatus = status
	return &out, nil
}

// LookupErrorFor is LookupError for one action: the entry the action's own
// documentation gives where it differs from the catalog's (the catalog holds
// ReleaseInstanceConnection's table), else LookupError(code). Today one code
// differs: ReleaseInstancePublicConnection documents Endpoint.NotFound as
// HTTP 400 "Specified endpoint is not found." Its class is the same
// (permanent).
func LookupErrorFor(action, code string) (CatalogEntry, bool) {
	e, ok := LookupError(code)
	if !ok {
		return e, false
	}
	if action == ActionReleaseInstancePublicConnection && code == CodeEndpointNotFound {
		e.HTTPStatus = http.StatusBadRequest
		e.Message = MessagePublicEndpointNotFound
		e.MessageZh = "未找到指定的连接地址。"
		e.Class = classForResponse(code, e.HTTPStatus)
	}
	return e, true
}
