package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/util"

	"github.com/rdsgate/rdsgate/internal/app"
)

// The deployment examples are held to the binary they run: the Kubernetes
// manifests in deploy/kubernetes/ and docker-compose.yml set only settings
// rdsgate reads, probe and expose the port it listens on, and give it the
// time its shutdown takes.

// readSettings are the environment variables `rdsgate serve` reads, from
// its --help (every flag names its variable; the settings without a flag
// are listed below them), plus the Go runtime's own.
func readSettings(t *testing.T) map[string]bool {
	t.Helper()
	_, help, err := rdsgate(t, "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"GOGC": true, "GOMEMLIMIT": true}
	for _, n := range regexp.MustCompile(`\b(?:RDSGATE|ALIBABA_CLOUD)_[A-Z0-9_]*[A-Z0-9]\b|\bDATABASE_URL\b`).FindAllString(help, -1) {
		names[n] = true
	}
	return names
}

// yamlDocuments reads every document of the YAML files matching pattern.
func yamlDocuments(t *testing.T, pattern string) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	docs := map[string][]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(raw), -1) {
			if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(doc, "")) != "" {
				docs[f] = append(docs[f], doc)
			}
		}
	}
	return docs
}

// k8sPort is a port given by number or by name.
type k8sPort = any

type k8sEnv struct {
	Name      string
	Value     string
	ValueFrom *struct {
		SecretKeyRef *struct{ Name, Key string }
	}
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string
		Port k8sPort
	}
}

type k8sContainer struct {
	Name  string
	Args  []string
	Ports []struct {
		Name          string
		ContainerPort int
	}
	Env                                         []k8sEnv
	LivenessProbe, ReadinessProbe, StartupProbe *k8sProbe
	Lifecycle                                   *struct {
		PreStop *struct {
			Sleep *struct{ Seconds int }
		}
	}
	VolumeMounts []struct {
		Name, MountPath string
		ReadOnly        bool
	}
	Resources struct {
		Requests, Limits map[string]any
	}
	SecurityContext struct {
		ReadOnlyRootFilesystem   bool
		AllowPrivilegeEscalation *bool
		Capabilities             struct{ Drop []string }
	}
}

type k8sObject struct {
	Kind     string
	Metadata struct {
		Name   string
		Labels map[string]string
	}
	StringData map[string]string
	Data       map[string]string
	Spec       struct {
		// Deployment
		Replicas int
		Template struct {
			Metadata struct{ Labels map[string]string }
			Spec     struct {
				TerminationGracePeriodSeconds *int
				SecurityContext               struct{ RunAsNonRoot bool }
				Containers                    []k8sContainer
				Volumes                       []struct {
					Name   string
					Secret *struct{ SecretName string }
				}
			}
		}
		// Service: labels; Deployment: {matchLabels: …}
		Selector map[string]any
		Ports    []struct {
			Name       string
			Port       int
			TargetPort k8sPort
		}
	}
}

func TestKubernetesExample(t *testing.T) {
	t.Parallel()
	reads := readSettings(t)
	var objs []k8sObject
	for file, docs := range yamlDocuments(t, "../../deploy/kubernetes/*.yaml") {
		for i, doc := range docs {
			var o k8sObject
			if err := util.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatalf("%s, document %d: %v", file, i+1, err)
			}
			objs = append(objs, o)
		}
	}
	byKind := map[string][]k8sObject{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	for _, kind := range []string{"Deployment", "Service", "Secret"} {
		if len(byKind[kind]) == 0 {
			t.Fatalf("no %s in deploy/kubernetes/", kind)
		}
	}
	if len(byKind["Deployment"]) != 1 || len(byKind["Service"]) != 1 {
		t.Fatalf("want one Deployment and one Service, got %d and %d", len(byKind["Deployment"]), len(byKind["Service"]))
	}
	secrets := map[string]k8sObject{}
	for _, s := range byKind["Secret"] {
		secrets[s.Metadata.Name] = s
	}
	secretHas := func(name, key string) bool {
		s, ok := secrets[name]
		_, inString := s.StringData[key]
		_, inData := s.Data[key]
		return ok && (inString || inData)
	}

	d := byKind["Deployment"][0]
	pod := d.Spec.Template.Spec
	if d.Spec.Replicas != 3 {
		t.Errorf("replicas %d, want 3", d.Spec.Replicas)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want rdsgate alone", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("args %v, want [serve]", c.Args)
	}
	env := map[string]k8sEnv{}
	for _, e := range c.Env {
		env[e.Name] = e
		if !reads[e.Name] {
			t.Errorf("env %s: rdsgate reads no such setting", e.Name)
		}
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && !secretHas(ref.SecretKeyRef.Name, ref.SecretKeyRef.Key) {
			t.Errorf("env %s: Secret %s has no key %s here", e.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
		}
	}
	for _, name := range []string{"DATABASE_URL", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"} {
		if e := env[name]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s does not come from a Secret", name)
		}
	}

	// The port rdsgate listens on is the one exposed, probed and served.
	_, port, err := net.SplitHostPort(env["RDSGATE_ADDR"].Value)
	if err != nil {
		t.Fatalf("RDSGATE_ADDR %q: %v", env["RDSGATE_ADDR"].Value, err)
	}
	portOf := func(p k8sPort) string {
		for _, cp := range c.Ports {
			if fmt.Sprint(p) == cp.Name {
				return fmt.Sprint(cp.ContainerPort)
			}
		}
		return fmt.Sprint(p)
	}
	if !slices.ContainsFunc(c.Ports, func(cp struct {
		Name          string
		ContainerPort int
	}) bool {
		return fmt.Sprint(cp.ContainerPort) == port
	}) {
		t.Errorf("no containerPort %s (RDSGATE_ADDR)", port)
	}
	for _, p := range []struct {
		name  string
		probe *k8sProbe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"startup", c.StartupProbe, "/healthz"}} {
		switch {
		case p.probe == nil && p.name == "startup":
		case p.probe == nil || p.probe.HTTPGet == nil:
			t.Errorf("no %s probe over HTTP", p.name)
		case p.probe.HTTPGet.Path != p.path || portOf(p.probe.HTTPGet.Port) != port:
			t.Errorf("%s probe on %s port %s, want %s port %s", p.name, p.probe.HTTPGet.Path, portOf(p.probe.HTTPGet.Port), p.path, port)
		}
	}
	svc := byKind["Service"][0]
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Metadata.Labels[k] != fmt.Sprint(v) {
			t.Errorf("the Service selects %s=%s, which the pods do not carry", k, v)
		}
	}
	if len(svc.Spec.Selector) == 0 || len(svc.Spec.Ports) == 0 {
		t.Error("the Service selects no pods or has no ports")
	}
	for _, sp := range svc.Spec.Ports {
		if portOf(sp.TargetPort) != port {
			t.Errorf("the Service's port %d targets %s, want %s", sp.Port, portOf(sp.TargetPort), port)
		}
	}

	// The signing key is a file from a Secret; the checkpoint copies go to
	// a writable volume (the root file system is read-only).
	mountOf := func(path string) (volume string, readOnly bool) {
		best := ""
		for _, m := range c.VolumeMounts {
			if strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") && len(m.MountPath) > len(best) {
				best, volume, readOnly = m.MountPath, m.Name, m.ReadOnly
			}
		}
		return volume, readOnly
	}
	keyPath := env["RDSGATE_AUDIT_SIGNING_KEY"].Value
	keyVolume, _ := mountOf(keyPath)
	var keySecret string
	for _, v := range pod.Volumes {
		if v.Name == keyVolume && v.Secret != nil {
			keySecret = v.Secret.SecretName
		}
	}
	if keyPath == "" || !secretHas(keySecret, filepath.Base(keyPath)) {
		t.Errorf("RDSGATE_AUDIT_SIGNING_KEY %q is not a file of a Secret defined here (volume %q, Secret %q)", keyPath, keyVolume, keySecret)
	}
	cpDir := env["RDSGATE_AUDIT_CHECKPOINT_DIR"].Value
	if v, ro := mountOf(cpDir + "/x"); cpDir == "" || v == "" || ro {
		t.Errorf("RDSGATE_AUDIT_CHECKPOINT_DIR %q is not on a writable volume", cpDir)
	}

	// Kubernetes kills the pod terminationGracePeriodSeconds after SIGTERM
	// (a preStop hook's time included): the shutdown budget must fit, with
	// 5 s to spare.
	budget := app.DefaultShutdownTimeout
	if v := env["RDSGATE_SHUTDOWN_TIMEOUT"].Value; v != "" {
		if budget, err = time.ParseDuration(v); err != nil {
			t.Fatalf("RDSGATE_SHUTDOWN_TIMEOUT: %v", err)
		}
	}
	grace := 30 * time.Second // Kubernetes' default
	if pod.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	var preStop time.Duration
	if l := c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
	}
	if grace < preStop+budget+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %s < preStop %s + shutdown %s + 5s", grace, preStop, budget)
	}

	if !pod.SecurityContext.RunAsNonRoot || !c.SecurityContext.ReadOnlyRootFilesystem ||
		c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation ||
		!slices.Equal(c.SecurityContext.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("security context: runAsNonRoot %v, container %+v", pod.SecurityContext.RunAsNonRoot, c.SecurityContext)
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == nil || c.Resources.Limits[r] == nil {
			t.Errorf("resources: no %s request or limit", r)
		}
	}
}

type composeService struct {
	Image       string
	Command     []string
	Environment map[string]string
	DependsOn   map[string]struct{ Condition string } `json:"depends_on"`
	Healthcheck *struct{ Test []string }
	Volumes     []string
	StopGrace   string `json:"stop_grace_period"`
}

// docker-compose.yml: rdsgate starts after PostgreSQL and the simulator are
// healthy and the keygen service wrote the signing key into the volume it
// reads it from; every service of the image runs a command the binary
// accepts, in exec form (the image has no shell).
func TestComposeFile(t *testing.T) {
	t.Parallel()
	reads := readSettings(t)
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]composeService
		Volumes  map[string]any
	}
	if err := util.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	svc := compose.Services
	for _, name := range []string{"postgres", "keygen", "sim", "rdsgate"} {
		if _, ok := svc[name]; !ok {
			t.Fatalf("no %s service", name)
		}
	}
	rg := svc["rdsgate"]
	for dep, cond := range map[string]string{"postgres": "service_healthy", "sim": "service_healthy", "keygen": "service_completed_successfully"} {
		if got := rg.DependsOn[dep].Condition; got != cond {
			t.Errorf("rdsgate depends on %s with %q, want %q", dep, got, cond)
		}
	}
	for name, s := range svc {
		if s.Healthcheck == nil && name != "keygen" {
			t.Errorf("%s has no healthcheck", name)
		}
		if s.Image != rg.Image {
			continue
		}
		if len(s.Command) == 0 {
			t.Errorf("%s: no command", name)
		} else if _, _, err := rdsgate(t, append(slices.Clone(s.Command), "--help")...); err != nil {
			t.Errorf("%s: rdsgate %v: %v", name, s.Command, err)
		}
		if s.Healthcheck != nil && (len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] != "CMD" || s.Healthcheck.Test[1] != "/usr/local/bin/rdsgate") {
			t.Errorf("%s: healthcheck %v is not the binary in exec form", name, s.Healthcheck.Test)
		}
	}
	for name := range rg.Environment {
		if !reads[name] {
			t.Errorf("rdsgate's environment %s: rdsgate reads no such setting", name)
		}
	}

	// The key keygen writes is the one rdsgate reads, through one volume.
	kg := svc["keygen"]
	out := kg.Command[slices.Index(kg.Command, "--out")+1]
	if key := rg.Environment["RDSGATE_AUDIT_SIGNING_KEY"]; key != out {
		t.Errorf("RDSGATE_AUDIT_SIGNING_KEY %q, keygen writes %q", key, out)
	}
	volumeFor := func(s composeService, path string) string {
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			if _, isNamed := compose.Volumes[src]; isNamed && strings.HasPrefix(path, strings.TrimSuffix(dst, "/")+"/") {
				return src
			}
		}
		return ""
	}
	if v := volumeFor(kg, out); v == "" || volumeFor(rg, out) != v {
		t.Errorf("keygen writes %s on volume %q, rdsgate reads it on %q", out, v, volumeFor(rg, out))
	}

	budget := app.DefaultShutdownTimeout
	grace, err := time.ParseDuration(rg.StopGrace)
	if err != nil || grace < budget+5*time.Second {
		t.Errorf("rdsgate's stop_grace_period %q: want at least %s (Docker's default is 10s)", rg.StopGrace, budget+5*time.Second)
	}
}
