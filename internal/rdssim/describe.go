package rdssim

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ActionDescribeDBInstances lists an account's instances in a region (RDS
// 2014-08-15). The aliyun package has no constant for it yet.
const ActionDescribeDBInstances = "DescribeDBInstances"

// Paging of DescribeDBInstances, as documented: PageSize 30 to 100, default
// 30; PageNumber from 1.
const (
	DefaultPageSize = 30
	MinPageSize     = 30
	MaxPageSize     = 100
)

// Wire shapes of DescribeDBInstances.
type instancesBody struct {
	RequestID        string       `json:"RequestId"`
	Items            instanceList `json:"Items"`
	TotalRecordCount int          `json:"TotalRecordCount"`
	PageNumber       int          `json:"PageNumber"`
	PageRecordCount  int          `json:"PageRecordCount"`
}

type instanceList struct {
	DBInstance []instanceItem `json:"DBInstance"`
}

type instanceItem struct {
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
	ConnectionMode        string `json:"ConnectionMode"`
	LockMode              string `json:"LockMode"`
	PayType               string `json:"PayType"`
	VpcID                 string `json:"VpcId"`
	VSwitchID             string `json:"VSwitchId"`
}

// describeInstancesLocked answers DescribeDBInstances: the caller account's
// instances (and those visible to every account) in RegionId, in state
// order, optionally only those named by DBInstanceId (comma-separated).
// The caller holds s.mu.
func (s *Server) describeInstancesLocked(acct Account, params url.Values, requestID string) result {
	region := params.Get("RegionId")
	if region == "" {
		return errResult(CodeMissingRegionID)
	}
	size := DefaultPageSize
	if v := params.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < MinPageSize || n > MaxPageSize {
			return errResult(CodeInvalidPageSize)
		}
		size = n
	}
	page := 1
	if v := params.Get("PageNumber"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errResult(CodeInvalidPageNumber)
		}
		page = n
	}
	var only map[string]bool
	if v := params.Get("DBInstanceId"); v != "" {
		only = map[string]bool{}
		for _, id := range strings.Split(v, ",") {
			only[strings.TrimSpace(id)] = true
		}
	}
	body := instancesBody{RequestID: requestID, PageNumber: page, Items: instanceList{DBInstance: []instanceItem{}}}
	first := (page - 1) * size
	for i := range s.instances {
		inst := &s.instances[i]
		if inst.RegionID != region || !inst.visibleTo(acct.AccountID) || (only != nil && !only[inst.ID]) {
			continue
		}
		n := body.TotalRecordCount
		body.TotalRecordCount++
		if n < first || n >= first+size {
			continue
		}
		body.Items.DBInstance = append(body.Items.DBInstance, listItem(inst))
	}
	body.PageRecordCount = len(body.Items.DBInstance)
	return result{status: http.StatusOK, body: body}
}

func listItem(inst *Instance) instanceItem {
	netType := "Intranet"
	for _, ep := range inst.Endpoints {
		if ep.IPType == IPTypePublic {
			netType = "Internet"
			break
		}
	}
	return instanceItem{
		DBInstanceID:          inst.ID,
		DBInstanceDescription: inst.Description,
		RegionID:              inst.RegionID,
		ZoneID:                inst.ZoneID,
		Engine:                inst.Engine,
		EngineVersion:         inst.EngineVersion,
		DBInstanceStatus:      inst.Status,
		DBInstanceType:        "Primary",
		DBInstanceClass:       inst.Class,
		DBInstanceNetType:     netType,
		InstanceNetworkType:   inst.NetworkType,
		ConnectionMode:        "Standard",
		LockMode:              "Unlock",
		PayType:               "Postpaid",
		VpcID:                 inst.VPCID,
		VSwitchID:             inst.VSwitchID,
	}
}
