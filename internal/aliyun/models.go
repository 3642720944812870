package aliyun

import (
	"fmt"
	"strconv"
	"strings"
)

// ReleaseInstanceConnectionRequest mirrors the rds-20140815 SDK model of the
// same name. Zero-valued fields are not sent. The API documents DBInstanceId,
// CurrentConnectionString and InstanceNetworkType as required but, like the
// SDK, the client does not check that; the API answers RequiredParam.NotFound.
type ReleaseInstanceConnectionRequest struct {
	// DBInstanceId is the instance, e.g. "rm-uf6wjk5xxxxxxx".
	DBInstanceId string `json:"DBInstanceId,omitempty"`
	// CurrentConnectionString is the public endpoint to release.
	CurrentConnectionString string `json:"CurrentConnectionString,omitempty"`
	// InstanceNetworkType is "0" for VPC and "1" for classic network; see
	// ReleaseNetworkType.
	InstanceNetworkType  string `json:"InstanceNetworkType,omitempty"`
	OwnerAccount         string `json:"OwnerAccount,omitempty"`
	OwnerId              int64  `json:"OwnerId,omitempty"`
	ResourceOwnerAccount string `json:"ResourceOwnerAccount,omitempty"`
	ResourceOwnerId      int64  `json:"ResourceOwnerId,omitempty"`
}

func (r ReleaseInstanceConnectionRequest) query() map[string]string {
	q := map[string]string{}
	setString(q, "DBInstanceId", r.DBInstanceId)
	setString(q, "CurrentConnectionString", r.CurrentConnectionString)
	setString(q, "InstanceNetworkType", r.InstanceNetworkType)
	setString(q, "OwnerAccount", r.OwnerAccount)
	setInt(q, "OwnerId", r.OwnerId)
	setString(q, "ResourceOwnerAccount", r.ResourceOwnerAccount)
	setInt(q, "ResourceOwnerId", r.ResourceOwnerId)
	return q
}

// ReleaseInstanceConnectionResponse is the answer to a successful
// ReleaseInstanceConnection: the body carries only the RequestId.
type ReleaseInstanceConnectionResponse struct {
	// HTTPStatus is the status of the answer (200).
	HTTPStatus int `json:"-"`
	// RequestId identifies the call at Alibaba Cloud.
	RequestId string `json:"RequestId"`
}

// DescribeDBInstanceNetInfoRequest mirrors the rds-20140815 SDK model of the
// same name. Zero-valued fields are not sent.
type DescribeDBInstanceNetInfoRequest struct {
	DBInstanceId string `json:"DBInstanceId,omitempty"`
	ClientToken  string `json:"ClientToken,omitempty"`
	// DBInstanceNetRWSplitType is "Normal" or "ReadWriteSplitting"; empty
	// returns both.
	DBInstanceNetRWSplitType string `json:"DBInstanceNetRWSplitType,omitempty"`
	Flag                     int32  `json:"Flag,omitempty"`
	GeneralGroupName         string `json:"GeneralGroupName,omitempty"`
	OwnerAccount             string `json:"OwnerAccount,omitempty"`
	OwnerId                  int64  `json:"OwnerId,omitempty"`
	ResourceOwnerAccount     string `json:"ResourceOwnerAccount,omitempty"`
	ResourceOwnerId          int64  `json:"ResourceOwnerId,omitempty"`
}

func (r DescribeDBInstanceNetInfoRequest) query() map[string]string {
	q := map[string]string{}
	setString(q, "DBInstanceId", r.DBInstanceId)
	setString(q, "ClientToken", r.ClientToken)
	setString(q, "DBInstanceNetRWSplitType", r.DBInstanceNetRWSplitType)
	setInt(q, "Flag", int64(r.Flag))
	setString(q, "GeneralGroupName", r.GeneralGroupName)
	setString(q, "OwnerAccount", r.OwnerAccount)
	setInt(q, "OwnerId", r.OwnerId)
	setString(q, "ResourceOwnerAccount", r.ResourceOwnerAccount)
	setInt(q, "ResourceOwnerId", r.ResourceOwnerId)
	return q
}

// DescribeDBInstanceNetInfoResponse lists an instance's endpoints.
type DescribeDBInstanceNetInfoResponse struct {
	// HTTPStatus is the status of the answer (200).
	HTTPStatus int    `json:"-"`
	RequestId  string `json:"RequestId"`
	// InstanceNetworkType is "VPC" or "Classic".
	InstanceNetworkType string             `json:"InstanceNetworkType"`
	SecurityIPMode      string             `json:"SecurityIPMode,omitempty"`
	DBInstanceNetInfos  DBInstanceNetInfos `json:"DBInstanceNetInfos"`
}

// DBInstanceNetInfos wraps the endpoint list as the wire format does.
type DBInstanceNetInfos struct {
	DBInstanceNetInfo []DBInstanceNetInfo `json:"DBInstanceNetInfo"`
}

// DBInstanceNetInfo is one endpoint. All values are strings on the wire,
// Port included.
type DBInstanceNetInfo struct {
	ConnectionString string `json:"ConnectionString"`
	IPAddress        string `json:"IPAddress"`
	// IPType is "Public" or "Private" (VPC) / "Inner" (classic network).
	IPType string `json:"IPType"`
	Port   string `json:"Port"`
	// ConnectionStringType is "Normal" or "ReadWriteSplitting".
	ConnectionStringType string `json:"ConnectionStringType"`
	VPCId                string `json:"VPCId,omitempty"`
	VSwitchId            string `json:"VSwitchId,omitempty"`
	MaxDelayTime         string `json:"MaxDelayTime,omitempty"`
	DistributionType     string `json:"DistributionType,omitempty"`
	Upgradeable          string `json:"Upgradeable,omitempty"`
	ExpiredTime          string `json:"ExpiredTime,omitempty"`
	BabelfishPort        string `json:"BabelfishPort,omitempty"`
	PGBouncerPort        string `json:"PGBouncerPort,omitempty"`
}

// PublicEndpoint returns the instance's public endpoint of type Normal: the
// one ReleaseInstanceConnection releases. It reports false when there is none.
func (r *DescribeDBInstanceNetInfoResponse) PublicEndpoint() (DBInstanceNetInfo, bool) {
	for _, n := range r.DBInstanceNetInfos.DBInstanceNetInfo {
		if n.IPType == "Public" && (n.ConnectionStringType == "" || n.ConnectionStringType == "Normal") {
			return n, true
		}
	}
	return DBInstanceNetInfo{}, false
}

// ReleaseNetworkType maps DescribeDBInstanceNetInfo's InstanceNetworkType
// ("VPC", "Classic") to ReleaseInstanceConnection's InstanceNetworkType ("0",
// "1"); the two APIs encode it differently.
func ReleaseNetworkType(instanceNetworkType string) (string, error) {
	switch strings.ToLower(instanceNetworkType) {
	case "vpc":
		return "0", nil
	case "classic":
		return "1", nil
	default:
		return "", fmt.Errorf("release network type: unknown instance network type %q", instanceNetworkType)
	}
}

// DescribeDBInstanceAttributeRequest mirrors the rds-20140815 SDK model of the
// same name. Zero-valued fields are not sent.
type DescribeDBInstanceAttributeRequest struct {
	DBInstanceId string `json:"DBInstanceId,omitempty"`
	// Expired is "True" or "False".
	Expired         string `json:"Expired,omitempty"`
	ResourceOwnerId int64  `json:"ResourceOwnerId,omitempty"`
}

func (r DescribeDBInstanceAttributeRequest) query() map[string]string {
	q := map[string]string{}
	setString(q, "DBInstanceId", r.DBInstanceId)
	setString(q, "Expired", r.Expired)
	setInt(q, "ResourceOwnerId", r.ResourceOwnerId)
	return q
}

// DescribeDBInstanceAttributeResponse describes one instance.
type DescribeDBInstanceAttributeResponse struct {
	// HTTPStatus is the status of the answer (200).
	HTTPStatus int                  `json:"-"`
	RequestId  string               `json:"RequestId"`
	Items      DBInstanceAttributes `json:"Items"`
}

// DBInstanceAttributes wraps the attribute list as the wire format does.
type DBInstanceAttributes struct {
	DBInstanceAttribute []DBInstanceAttribute `json:"DBInstanceAttribute"`
}

// DBInstanceAttribute holds the fields of the SDK model the gateway uses.
// Tags are not part of this API (use ListTagResources).
type DBInstanceAttribute struct {
	DBInstanceId          string `json:"DBInstanceId"`
	DBInstanceDescription string `json:"DBInstanceDescription,omitempty"`
	RegionId              string `json:"RegionId,omitempty"`
	ZoneId                string `json:"ZoneId,omitempty"`
	// Engine is "MySQL", "PostgreSQL", "SQLServer" or "MariaDB".
	Engine           string `json:"Engine,omitempty"`
	EngineVersion    string `json:"EngineVersion,omitempty"`
	DBInstanceStatus string `json:"DBInstanceStatus,omitempty"`
	DBInstanceType   string `json:"DBInstanceType,omitempty"`
	DBInstanceClass  string `json:"DBInstanceClass,omitempty"`
	// DBInstanceNetType is "Internet" or "Intranet".
	DBInstanceNetType string `json:"DBInstanceNetType,omitempty"`
	// InstanceNetworkType is "VPC" or "Classic".
	InstanceNetworkType string `json:"InstanceNetworkType,omitempty"`
	ConnectionString    string `json:"ConnectionString,omitempty"`
	Port                string `json:"Port,omitempty"`
	VpcId               string `json:"VpcId,omitempty"`
	VSwitchId           string `json:"VSwitchId,omitempty"`
	ResourceGroupId     string `json:"ResourceGroupId,omitempty"`
	LockMode            string `json:"LockMode,omitempty"`
	PayType             string `json:"PayType,omitempty"`
	SecurityIPList      string `json:"SecurityIPList,omitempty"`
	SecurityIPMode      string `json:"SecurityIPMode,omitempty"`
	IPType              string `json:"IPType,omitempty"`
	CreationTime        string `json:"CreationTime,omitempty"`
	ExpireTime          string `json:"ExpireTime,omitempty"`
	DeletionProtection  bool   `json:"DeletionProtection,omitempty"`
	DBInstanceStorage   int32  `json:"DBInstanceStorage,omitempty"`
	MaxConnections      int32  `json:"MaxConnections,omitempty"`
}

func setString(q map[string]string, key, value string) {
	if value != "" {
		q[key] = value
	}
}

func setInt(q map[string]string, key string, value int64) {
	if value != 0 {
		q[key] = strconv.FormatInt(value, 10)
	}
}
