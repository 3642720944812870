package aliyun

import (
	"context"
	"strconv"
)

// ActionDescribeDBInstances lists a region's instances.
const ActionDescribeDBInstances = "DescribeDBInstances"

// Page sizes DescribeDBInstances accepts: 30 to 100 entries, 30 by default.
const (
	MinInstancesPageSize = 30
	MaxInstancesPageSize = 100
)

// DescribeDBInstancesRequest mirrors the fields of the rds-20140815 SDK model
// of the same name that the gateway uses. Zero-valued fields are not sent.
// RegionId is required by the API (it answers MissingRegionId without it).
type DescribeDBInstancesRequest struct {
	// RegionId is the region whose instances are listed, e.g. "cn-hangzhou".
	RegionId string `json:"RegionId,omitempty"`
	// PageSize is 30 to 100 (MinInstancesPageSize, MaxInstancesPageSize);
	// 0 sends nothing and the API pages by 30.
	PageSize int32 `json:"PageSize,omitempty"`
	// PageNumber counts from 1; 0 sends nothing (the first page).
	PageNumber int32 `json:"PageNumber,omitempty"`
	// DBInstanceId, when set, restricts the list to these instances
	// (comma-separated).
	DBInstanceId string `json:"DBInstanceId,omitempty"`
	// Engine filters: "MySQL", "PostgreSQL", "SQLServer" or "MariaDB".
	Engine string `json:"Engine,omitempty"`
	// DBInstanceStatus filters by status, e.g. "Running".
	DBInstanceStatus string `json:"DBInstanceStatus,omitempty"`
	// InstanceNetworkType filters: "VPC" or "Classic".
	InstanceNetworkType  string `json:"InstanceNetworkType,omitempty"`
	ResourceGroupId      string `json:"ResourceGroupId,omitempty"`
	OwnerAccount         string `json:"OwnerAccount,omitempty"`
	OwnerId              int64  `json:"OwnerId,omitempty"`
	ResourceOwnerAccount string `json:"ResourceOwnerAccount,omitempty"`
	ResourceOwnerId      int64  `json:"ResourceOwnerId,omitempty"`
}

func (r DescribeDBInstancesRequest) query() map[string]string {
	q := map[string]string{}
	setString(q, "RegionId", r.RegionId)
	setInt(q, "PageSize", int64(r.PageSize))
	setInt(q, "PageNumber", int64(r.PageNumber))
	setString(q, "DBInstanceId", r.DBInstanceId)
	setString(q, "Engine", r.Engine)
	setString(q, "DBInstanceStatus", r.DBInstanceStatus)
	setString(q, "InstanceNetworkType", r.InstanceNetworkType)
	setString(q, "ResourceGroupId", r.ResourceGroupId)
	setString(q, "OwnerAccount", r.OwnerAccount)
	setInt(q, "OwnerId", r.OwnerId)
	setString(q, "ResourceOwnerAccount", r.ResourceOwnerAccount)
	setInt(q, "ResourceOwnerId", r.ResourceOwnerId)
	return q
}

// DescribeDBInstancesResponse is one page of a region's instances.
type DescribeDBInstancesResponse struct {
	// HTTPStatus is the status of the answer (200).
	HTTPStatus int           `json:"-"`
	RequestId  string        `json:"RequestId"`
	Items      DBInstanceSet `json:"Items"`
	// TotalRecordCount is the number of instances over all pages.
	TotalRecordCount int32 `json:"TotalRecordCount"`
	// PageNumber is the page answered, from 1.
	PageNumber int32 `json:"PageNumber"`
	// PageRecordCount is the number of instances on this page.
	PageRecordCount int32 `json:"PageRecordCount"`
}

// DBInstanceSet wraps the instance list as the wire format does.
type DBInstanceSet struct {
	DBInstance []DBInstance `json:"DBInstance"`
}

// DBInstance is one instance of a DescribeDBInstances page: the fields of
// the SDK model the gateway uses.
type DBInstance struct {
	DBInstanceId          string `json:"DBInstanceId"`
	DBInstanceDescription string `json:"DBInstanceDescription,omitempty"`
	RegionId              string `json:"RegionId,omitempty"`
	ZoneId                string `json:"ZoneId,omitempty"`
	// Engine is "MySQL", "PostgreSQL", "SQLServer" or "MariaDB".
	Engine           string `json:"Engine,omitempty"`
	EngineVersion    string `json:"EngineVersion,omitempty"`
	DBInstanceStatus string `json:"DBInstanceStatus,omitempty"`
	DBInstanceClass  string `json:"DBInstanceClass,omitempty"`
	// DBInstanceType is "Primary", "Readonly", "Guard" or "Temp".
	DBInstanceType string `json:"DBInstanceType,omitempty"`
	// DBInstanceNetType is "Internet" or "Intranet".
	DBInstanceNetType string `json:"DBInstanceNetType,omitempty"`
	// InstanceNetworkType is "VPC" or "Classic".
	InstanceNetworkType string `json:"InstanceNetworkType,omitempty"`
	ConnectionMode      string `json:"ConnectionMode,omitempty"`
	ConnectionString    string `json:"ConnectionString,omitempty"`
	VpcId               string `json:"VpcId,omitempty"`
	VSwitchId           string `json:"VSwitchId,omitempty"`
	ResourceGroupId     string `json:"ResourceGroupId,omitempty"`
	LockMode            string `json:"LockMode,omitempty"`
	PayType             string `json:"PayType,omitempty"`
	MasterInstanceId    string `json:"MasterInstanceId,omitempty"`
	CreateTime          string `json:"CreateTime,omitempty"`
	ExpireTime          string `json:"ExpireTime,omitempty"`
	DeletionProtection  bool   `json:"DeletionProtection,omitempty"`
}

// DescribeDBInstances lists one page of a region's instances. On failure the
// error is an *APIError.
func (c *Client) DescribeDBInstances(ctx context.Context, req DescribeDBInstancesRequest) (*DescribeDBInstancesResponse, error) {
	var out DescribeDBInstancesResponse
	status, err := c.call(ctx, ActionDescribeDBInstances, req.RegionId+" page "+strconv.Itoa(int(req.PageNumber)), req.query(), &out)
	if err != nil {
		return nil, err
	}
	out.HTTPStatus = status
	return &out, nil
}
