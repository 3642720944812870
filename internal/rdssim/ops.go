package rdssim

import (
	"net/http"
	"net/url"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

// dispatch performs action for acct under s.mu and returns the answer.
func (s *Server) dispatch(acct Account, action string, params url.Values, requestID string) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch action {
	case aliyun.ActionReleaseInstanceConnection:
		return s.releaseLocked(acct, params, requestID)
	case aliyun.ActionReleaseInstancePublicConnection:
		return s.releasePublicLocked(acct, params, requestID)
	case aliyun.ActionDescribeDBInstanceNetInfo:
		return s.describeNetInfoLocked(acct, params, requestID)
	case aliyun.ActionDescribeDBInstanceAttribute:
		return s.describeAttributeLocked(acct, params, requestID)
	case ActionDescribeDBInstances:
		return s.describeInstancesLocked(acct, params, requestID)
	default:
		return errResult(aliyun.CodeInvalidActionNotFound)
	}
}

// instanceLocked finds the instance acct may see. The caller holds s.mu.
func (s *Server) instanceLocked(acct Account, id string) *Instance {
	for i := range s.instances {
		if s.instances[i].ID == id && s.instances[i].visibleTo(acct.AccountID) {
			return &s.instances[i]
		}
	}
	return nil
}

func (s *Server) releaseLocked(acct Account, params url.Values, requestID string) result {
	id := params.Get("DBInstanceId")
	cs := params.Get("CurrentConnectionString")
	netType := params.Get("InstanceNetworkType")
	if id == "" || cs == "" || netType == "" {
		return errResult(aliyun.CodeRequiredParamNotFound)
	}
	inst := s.instanceLocked(acct, id)
	if inst == nil {
		return errResult(aliyun.CodeInvalidDBInstanceIDNotFound)
	}
	if inst.Status != "Running" {
		return errResult(aliyun.CodeInvalidStatusFormat)
	}
	want := "0"
	if inst.NetworkType == NetworkClassic {
		want = "1"
	}
	if netType != want {
		return errResult(aliyun.CodeParametersInvalid)
	}
	i := inst.publicEndpoint(cs)
	if i < 0 {
		return errResult(aliyun.CodeEndpointNotFound)
	}
	inst.Endpoints = append(inst.Endpoints[:i:i], inst.Endpoints[i+1:]...)
	return result{status: http.StatusOK, body: map[string]string{"RequestId": requestID}}
}

// Wire shapes of DescribeDBInstanceNetInfo.
type netInfoBody struct {
	RequestID           string      `json:"RequestId"`
	InstanceNetworkType string      `json:"InstanceNetworkType"`
	SecurityIPMode      string      `json:"SecurityIPMode"`
	DBInstanceNetInfos  netInfoList `json:"DBInstanceNetInfos"`
}

type netInfoList struct {
	DBInstanceNetInfo []netInfo `json:"DBInstanceNetInfo"`
}

type netInfo struct {
	ConnectionString     string           `json:"ConnectionString"`
	IPAddress            string           `json:"IPAddress"`
	IPType               string           `json:"IPType"`
	Port                 string           `json:"Port"`
	ConnectionStringType string           `json:"ConnectionStringType"`
	VPCID                string           `json:"VPCId"`
	VSwitchID            string           `json:"VSwitchId"`
	Upgradeable          string           `json:"Upgradeable"`
	SecurityIPGroups     securityIPGroups `json:"SecurityIPGroups"`
}

type securityIPGroups struct {
	SecurityIPGroup []struct{} `json:"securityIPGroup"`
}

func (s *Server) describeNetInfoLocked(acct Account, params url.Values, requestID string) result {
	id := params.Get("DBInstanceId")
	if id == "" {
		return errResult(aliyun.CodeRequiredParamNotFound)
	}
	inst := s.instanceLocked(acct, id)
	if inst == nil {
		return errResult(aliyun.CodeInvalidDBInstanceIDNotFound)
	}
	split := params.Get("DBInstanceNetRWSplitType")
	body := netInfoBody{
		RequestID:           requestID,
		InstanceNetworkType: inst.NetworkType,
		SecurityIPMode:      "normal",
		DBInstanceNetInfos:  netInfoList{DBInstanceNetInfo: []netInfo{}},
	}
	for _, ep := range inst.Endpoints {
		if split != "" && ep.Type != split {
			continue
		}
		n := netInfo{
			ConnectionString:     ep.ConnectionString,
			IPAddress:            ep.IPAddress,
			IPType:               ep.IPType,
			Port:                 ep.Port,
			ConnectionStringType: ep.Type,
			Upgradeable:          "Disabled",
			SecurityIPGroups:     securityIPGroups{SecurityIPGroup: []struct{}{}},
		}
		if inst.NetworkType == NetworkVPC && ep.IPType != IPTypePublic {
			n.VPCID, n.VSwitchID = inst.VPCID, inst.VSwitchID
		}
		body.DBInstanceNetInfos.DBInstanceNetInfo = append(body.DBInstanceNetInfos.DBInstanceNetInfo, n)
	}
	return result{status: http.StatusOK, body: body}
}

// Wire shapes of DescribeDBInstanceAttribute.
type attributeBody struct {
	RequestID string        `json:"RequestId"`
	Items     attributeList `json:"Items"`
}

type attributeList struct {
	DBInstanceAttribute []attribute `json:"DBInstanceAttribute"`
}

type attribute struct {
	DBInstanceID          string `json:"DBInstanceId"`
	DBInstanceDescription string `json:"DBInstanceDescription"`
	RegionID              string `json:"RegionId"`
	ZoneID                string `json:"ZoneId"`
	Engine                string `json:"Engine"`
	EngineVersion         string `json:"EngineVersion"`
	DBInstanceStatus      string `json:"DBInstanceStatus"`
	DBInstanceType        string `json:"DBInstanceType"`
	DBInstanceClass       string `json:"DBInstanceClass"`
	DBInstanceNetType     string `json:"DBInstanceNetType"`
	InstanceNetworkType   string `json:"InstanceNetworkType"`
	ConnectionString      string `json:"ConnectionString"`
	Port                  string `json:"Port"`
	VpcID                 string `json:"VpcId"`
	VSwitchID             string `json:"VSwitchId"`
	LockMode              string `json:"LockMode"`
	PayType               string `json:"PayType"`
	SecurityIPMode        string `json:"SecurityIPMode"`
	DeletionProtection    bool   `json:"DeletionProtection"`
	DBInstanceStorage     int32  `json:"DBInstanceStorage"`
	MaxConnections        int32  `json:"MaxConnections"`
}

func (s *Server) describeAttributeLocked(acct Account, params url.Values, requestID string) result {
	id := params.Get("DBInstanceId")
	if id == "" {
		return errResult(aliyun.CodeRequiredParamNotFound)
	}
	inst := s.instanceLocked(acct, id)
	if inst == nil {
		return errResult(aliyun.CodeInvalidDBInstanceIDNotFound)
	}
	a := attribute{
		DBInstanceID:          inst.ID,
		DBInstanceDescription: inst.Description,
		RegionID:              inst.RegionID,
		ZoneID:                inst.ZoneID,
		Engine:                inst.Engine,
		EngineVersion:         inst.EngineVersion,
		DBInstanceStatus:      inst.Status,
		DBInstanceType:        "Primary",
		DBInstanceClass:       inst.Class,
		DBInstanceNetType:     "Intranet",
		InstanceNetworkType:   inst.NetworkType,
		VpcID:                 inst.VPCID,
		VSwitchID:             inst.VSwitchID,
		LockMode:              "Unlock",
		PayType:               "Postpaid",
		SecurityIPMode:        "normal",
		DBInstanceStorage:     20,
		MaxConnections:        2000,
	}
	// ConnectionString is the internal endpoint when there is one, else
	// the public one; DBInstanceNetType says whether a public one exists.
	for _, ep := range inst.Endpoints {
		if ep.IPType == IPTypePublic {
			a.DBInstanceNetType = "Internet"
			if a.ConnectionString == "" {
				a.ConnectionString, a.Port = ep.ConnectionString, ep.Port
			}
		}
	}
	for _, ep := range inst.Endpoints {
		if ep.IPType != IPTypePublic {
			a.ConnectionString, a.Port = ep.ConnectionString, ep.Port
			break
		}
	}
	return result{status: http.StatusOK, body: attributeBody{
		RequestID: requestID,
		Items:     attributeList{DBInstanceAttribute: []attribute{a}},
	}}
}
