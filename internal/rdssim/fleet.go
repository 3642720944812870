package rdssim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// FleetAccountBase is the base of generated account uids: account i (from
// 1) is FleetAccountBase+i, 1000000000000001 for the first.
const FleetAccountBase = 1000000000000000

// maxFleet bounds a generated fleet.
const maxFleet = 1_000_000

// FleetSpec describes a generated fleet; its text form (ParseFleetSpec) is
//
//	accounts=5,regions=cn-hangzhou+cn-shanghai,per_region=200[,roles=rdsgate-gateway+other]
type FleetSpec struct {
	// Accounts is the number of accounts, uids FleetAccountID(1..Accounts).
	Accounts int
	// Regions are the region ids each account has instances in.
	Regions []string
	// PerRegion is the number of instances per account and region.
	PerRegion int
	// Roles, when set, are the only roles AssumeRole accepts for each
	// generated account; empty leaves roles unrestricted.
	Roles []string
}

// FleetAccountID returns the uid of generated account i (1-based):
// "1000000000000001" for 1.
func FleetAccountID(i int) string { return strconv.Itoa(FleetAccountBase + i) }

// FleetInstanceID returns the id of the n-th (1-based) instance of account
// i (1-based) in its r-th (0-based) region: "rm-" followed by lowercase
// letters and digits, unique across accounts, e.g. "rm-bp1a001r00n00001".
func FleetInstanceID(i, r int, region string, n int) string {
	return fmt.Sprintf("rm-%s1a%03dr%02dn%05d", regionPrefix(region), i, r, n)
}

// regionPrefix is the two characters Alibaba's instance ids carry for a
// region ("bp" for cn-hangzhou); "zz" for regions not listed.
func regionPrefix(region string) string {
	switch region {
	case "cn-hangzhou":
		return "bp"
	case "cn-shanghai":
		return "uf"
	case "cn-beijing":
		return "2z"
	case "cn-shenzhen":
		return "wz"
	case "cn-qingdao":
		return "m5"
	case "cn-zhangjiakou":
		return "8v"
	case "cn-hongkong":
		return "j6"
	case "ap-southeast-1":
		return "gs"
	default:
		return "zz"
	}
}

// ParseFleetSpec parses "accounts=N,regions=R1+R2,per_region=M[,roles=A+B]".
func ParseFleetSpec(text string) (FleetSpec, error) {
	var f FleetSpec
	seen := map[string]bool{}
	for _, part := range strings.Split(text, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			return FleetSpec{}, fmt.Errorf("fleet spec: %q: want key=value", part)
		}
		if seen[k] {
			return FleetSpec{}, fmt.Errorf("fleet spec: %s given twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "accounts":
			f.Accounts, err = strconv.Atoi(v)
		case "per_region":
			f.PerRegion, err = strconv.Atoi(v)
		case "regions":
			f.Regions = strings.Split(v, "+")
		case "roles":
			f.Roles = strings.Split(v, "+")
		default:
			return FleetSpec{}, fmt.Errorf("fleet spec: unknown key %q (want accounts, regions, per_region, roles)", k)
		}
		if err != nil {
			return FleetSpec{}, fmt.Errorf("fleet spec: %s: %w", k, err)
		}
	}
	if err := f.validate(); err != nil {
		return FleetSpec{}, err
	}
	return f, nil
}

func (f FleetSpec) validate() error {
	switch {
	case f.Accounts < 1 || f.Accounts > 999:
		return errors.New("fleet spec: accounts must be 1 to 999")
	case len(f.Regions) == 0 || len(f.Regions) > 99:
		return errors.New("fleet spec: regions must name 1 to 99 regions")
	case f.PerRegion < 1 || f.PerRegion > 99999:
		return errors.New("fleet spec: per_region must be 1 to 99999")
	case f.Accounts*len(f.Regions)*f.PerRegion > maxFleet:
		return fmt.Errorf("fleet spec: more than %d instances", maxFleet)
	}
	seen := map[string]bool{}
	for _, r := range f.Regions {
		if r == "" || seen[r] {
			return fmt.Errorf("fleet spec: region %q empty or repeated", r)
		}
		seen[r] = true
	}
	for _, r := range f.Roles {
		if !roleNamePattern.MatchString(r) {
			return fmt.Errorf("fleet spec: role %q: want 1-64 letters, digits, '.', '-' or '_'", r)
		}
	}
	return nil
}

// GenerateFleet builds the state of a fleet: for each account i, region r
// and n in 1..PerRegion, a Running VPC MySQL 8.0 instance
// FleetInstanceID(i, r, region, n) owned by FleetAccountID(i), in zone
// <region>-h, with a public endpoint <id>.mysql.rds.aliyuncs.com and a
// private one <id>-priv.mysql.rds.aliyuncs.com. Accounts carries
// f.Roles for each account when set, else it is nil. The output is
// deterministic.
func GenerateFleet(f FleetSpec) (StateFile, error) {
	if err := f.validate(); err != nil {
		return StateFile{}, err
	}
	out := StateFile{Instances: make([]Instance, 0, f.Accounts*len(f.Regions)*f.PerRegion)}
	if len(f.Roles) > 0 {
		out.Accounts = map[string]StateAccount{}
	}
	seq := 0
	for i := 1; i <= f.Accounts; i++ {
		uid := FleetAccountID(i)
		if out.Accounts != nil {
			out.Accounts[uid] = StateAccount{Roles: append([]string{}, f.Roles...)}
		}
		for r, region := range f.Regions {
			for n := 1; n <= f.PerRegion; n++ {
				seq++
				id := FleetInstanceID(i, r, region, n)
				out.Instances = append(out.Instances, Instance{
					ID:            id,
					RegionID:      region,
					ZoneID:        region + "-h",
					Engine:        "MySQL",
					EngineVersion: "8.0",
					Class:         "mysql.n2.medium.1",
					Description:   fmt.Sprintf("fleet account %d %s #%d", i, region, n),
					Status:        "Running",
					NetworkType:   NetworkVPC,
					VPCID:         fmt.Sprintf("vpc-%s1a%03dr%02d", regionPrefix(region), i, r),
					VSwitchID:     fmt.Sprintf("vsw-%s1a%03dr%02d", regionPrefix(region), i, r),
					AccountID:     uid,
					Endpoints: []Endpoint{
						{ConnectionString: id + ".mysql.rds.aliyuncs.com", IPAddress: ipv4(47, seq), IPType: IPTypePublic, Port: "3306", Type: "Normal"},
						{ConnectionString: id + "-priv.mysql.rds.aliyuncs.com", IPAddress: ipv4(172, seq), IPType: IPTypePrivate, Port: "3306", Type: "Normal"},
					},
				})
			}
		}
	}
	insts, err := normaliseInstances(out.Instances)
	if err != nil {
		return StateFile{}, err
	}
	out.Instances = insts
	return out, nil
}

// ipv4 spreads seq over the last three octets under first (172 uses
// 172.16.0.0/12's space).
func ipv4(first, seq int) string {
	second := (seq >> 16) & 0xff
	if first == 172 {
		second = 16 + (seq>>16)&0x0f
	}
	return fmt.Sprintf("%d.%d.%d.%d", first, second, (seq>>8)&0xff, seq&0xff)
}
