package rdssim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Network types of an instance, as DescribeDBInstanceNetInfo reports them.
const (
	NetworkVPC     = "VPC"
	NetworkClassic = "Classic"
)

// IP types of an endpoint: Public for the internet endpoint, Private for a VPC
// endpoint, Inner for a classic-network internal endpoint.
const (
	IPTypePublic  = "Public"
	IPTypePrivate = "Private"
	IPTypeInner   = "Inner"
)

// Instance is one simulated RDS instance.
type Instance struct {
	ID            string `json:"id"`
	RegionID      string `json:"region_id,omitempty"`
	ZoneID        string `json:"zone_id,omitempty"`
	Engine        string `json:"engine,omitempty"`
	EngineVersion string `json:"engine_version,omitempty"`
	Class         string `json:"class,omitempty"`
	Description   string `json:"description,omitempty"`
	// Status is the DBInstanceStatus; only "Running" instances can release
	// an endpoint. Empty means Running.
	Status string `json:"status,omitempty"`
	// NetworkType is "VPC" or "Classic".
	NetworkType string `json:"network_type"`
	VPCID       string `json:"vpc_id,omitempty"`
	VSwitchID   string `json:"vswitch_id,omitempty"`
	// AccountID owns the instance; empty means every account sees it.
	AccountID string     `json:"account_id,omitempty"`
	Endpoints []Endpoint `json:"endpoints"`
}

// Endpoint is one connection string of an instance.
type Endpoint struct {
	ConnectionString string `json:"connection_string"`
	IPAddress        string `json:"ip_address,omitempty"`
	// IPType is "Public", "Private" or "Inner".
	IPType string `json:"ip_type"`
	Port   string `json:"port,omitempty"`
	// Type is the ConnectionStringType: "Normal" (default) or
	// "ReadWriteSplitting".
	Type string `json:"type,omitempty"`
}

// StateFile is the JSON shape of a state file and of the /_sim/instances
// bodies.
type StateFile struct {
	// Accounts, when present, lists the only roles AssumeRole accepts, by
	// 16-digit account uid; absent (nil), any well-formed role ARN is
	// accepted.
	Accounts  map[string]StateAccount `json:"accounts,omitempty"`
	Instances []Instance              `json:"instances"`
}

// StateAccount is one account of a state file: {"roles":["rdsgate-gateway"]},
// with optionally its RAM ({"ram":{...}}, RAMState), which the RAM API
// answers from.
type StateAccount struct {
	Roles []string  `json:"roles"`
	RAM   *RAMState `json:"ram,omitempty"`
}

// RoleMap returns f.Accounts as Config.Roles wants it; nil when f has no
// accounts object.
func (f StateFile) RoleMap() map[string][]string {
	if f.Accounts == nil {
		return nil
	}
	m := make(map[string][]string, len(f.Accounts))
	for uid, a := range f.Accounts {
		m[uid] = append([]string{}, a.Roles...)
	}
	return m
}

// LoadInstances reads a state file ({"instances":[...]}) and returns its
// instances, normalised and validated.
func LoadInstances(path string) ([]Instance, error) {
	f, err := LoadState(path)
	if err != nil {
		return nil, err
	}
	return f.Instances, nil
}

// LoadState reads a state file ({"accounts":{...},"instances":[...]}) with
// its instances normalised and its accounts validated.
func LoadState(path string) (StateFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return StateFile{}, fmt.Errorf("load instances: %w", err)
	}
	var f StateFile
	if err := decodeStrict(b, &f); err != nil {
		return StateFile{}, fmt.Errorf("load instances %s: %w", path, err)
	}
	if f.Instances, err = normaliseInstances(f.Instances); err != nil {
		return StateFile{}, fmt.Errorf("load instances %s: %w", path, err)
	}
	if _, err := normaliseRoles(f.RoleMap()); err != nil {
		return StateFile{}, fmt.Errorf("load instances %s: %w", path, err)
	}
	return f, nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode json: %w", err)
	}
	if dec.More() {
		return errors.New("decode json: trailing data")
	}
	return nil
}

// normaliseInstances fills defaults, checks every instance and returns deep
// copies; ids must be unique.
func normaliseInstances(in []Instance) ([]Instance, error) {
	out := make([]Instance, 0, len(in))
	seen := make(map[string]bool, len(in))
	for i, inst := range in {
		n, err := normaliseInstance(inst)
		if err != nil {
			return nil, fmt.Errorf("instance %d: %w", i, err)
		}
		if seen[n.ID] {
			return nil, fmt.Errorf("instance %d: duplicate id %q", i, n.ID)
		}
		seen[n.ID] = true
		out = append(out, n)
	}
	return out, nil
}

func normaliseInstance(inst Instance) (Instance, error) {
	inst = inst.clone()
	if inst.ID == "" {
		return Instance{}, errors.New("id is required")
	}
	switch strings.ToLower(inst.NetworkType) {
	case "vpc":
		inst.NetworkType = NetworkVPC
	case "classic":
		inst.NetworkType = NetworkClassic
	default:
		return Instance{}, fmt.Errorf("%s: network_type %q: want VPC or Classic", inst.ID, inst.NetworkType)
	}
	if inst.Status == "" {
		inst.Status = "Running"
	}
	if inst.Endpoints == nil {
		inst.Endpoints = []Endpoint{}
	}
	seen := map[string]bool{}
	for j := range inst.Endpoints {
		ep := &inst.Endpoints[j]
		if ep.ConnectionString == "" {
			return Instance{}, fmt.Errorf("%s: endpoint %d: connection_string is required", inst.ID, j)
		}
		key := strings.ToLower(ep.ConnectionString)
		if seen[key] {
			return Instance{}, fmt.Errorf("%s: duplicate endpoint %q", inst.ID, ep.ConnectionString)
		}
		seen[key] = true
		switch strings.ToLower(ep.IPType) {
		case "public":
			ep.IPType = IPTypePublic
		case "private":
			ep.IPType = IPTypePrivate
		case "inner":
			ep.IPType = IPTypeInner
		default:
			return Instance{}, fmt.Errorf("%s: endpoint %q: ip_type %q: want Public, Private or Inner", inst.ID, ep.ConnectionString, ep.IPType)
		}
		if ep.Type == "" {
			ep.Type = "Normal"
		}
		if ep.Port == "" {
			ep.Port = defaultPort(inst.Engine)
		}
	}
	return inst, nil
}

func defaultPort(engine string) string {
	switch strings.ToLower(engine) {
	case "postgresql":
		return "5432"
	case "sqlserver":
		return "1433"
	default:
		return "3306"
	}
}

func (inst Instance) clone() Instance {
	inst.Endpoints = slices.Clone(inst.Endpoints)
	return inst
}

// visibleTo reports whether account may see the instance.
func (inst *Instance) visibleTo(accountID string) bool {
	return inst.AccountID == "" || inst.AccountID == accountID
}

// publicEndpoint returns the index of the public endpoint whose connection
// string is cs (host names compare case-insensitively), or -1.
func (inst *Instance) publicEndpoint(cs string) int {
	for i, ep := range inst.Endpoints {
		if ep.IPType == IPTypePublic && strings.EqualFold(ep.ConnectionString, cs) {
			return i
		}
	}
	return -1
}
