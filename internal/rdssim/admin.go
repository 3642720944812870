package rdssim

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
)

// serveAdmin serves /_sim/. It is unsigned, so it answers loopback clients
// only.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if !loopbackRemote(r.RemoteAddr) {
		writeAdmin(w, http.StatusForbidden, adminError{"the /_sim/ API answers loopback clients only"})
		return
	}
	switch r.URL.Path {
	case "/_sim/faults":
		switch r.Method {
		case http.MethodGet:
			writeAdmin(w, http.StatusOK, s.Faults())
		case http.MethodPost:
			s.postFaults(w, r)
		case http.MethodDelete:
			s.ClearFaults()
			w.WriteHeader(http.StatusNoContent)
		default:
			methodNotAllowed(w, "GET, POST, DELETE")
		}
	case "/_sim/calls":
		switch r.Method {
		case http.MethodGet:
			writeAdmin(w, http.StatusOK, s.Calls())
		case http.MethodDelete:
			s.ClearCalls()
			w.WriteHeader(http.StatusNoContent)
		default:
			methodNotAllowed(w, "GET, DELETE")
		}
	case "/_sim/instances":
		switch r.Method {
		case http.MethodGet:
			if acct := r.URL.Query().Get("account"); acct != "" {
				writeAdmin(w, http.StatusOK, StateFile{Instances: s.InstancesFor(acct)})
				return
			}
			writeAdmin(w, http.StatusOK, StateFile{Instances: s.Instances()})
		case http.MethodPost:
			s.postInstances(w, r)
		default:
			methodNotAllowed(w, "GET, POST")
		}
	case "/_sim/accounts":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		writeAdmin(w, http.StatusOK, accountsBody{Accounts: s.Accounts()})
	case "/_sim/console/release":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		s.postConsoleRelease(w, r)
	case "/_sim/trail":
		switch r.Method {
		case http.MethodGet:
			writeAdmin(w, http.StatusOK, trailBody{Events: s.TrailEvents(r.URL.Query().Get("account")), DelayMS: s.TrailDelay().Milliseconds()})
		case http.MethodDelete:
			s.ClearTrail()
			w.WriteHeader(http.StatusNoContent)
		default:
			methodNotAllowed(w, "GET, DELETE")
		}
	case "/_sim/ca.pem":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.CACertPEM())
	default:
		writeAdmin(w, http.StatusNotFound, adminError{"unknown admin path " + r.URL.Path})
	}
}

// maxAdminBody bounds admin request bodies (a generated fleet's state is
// large).
const maxAdminBody = 64 << 20

// accountsBody is the answer of GET /_sim/accounts.
type accountsBody struct {
	Accounts []AccountStats `json:"accounts"`
}

// adminError is the body of a failed admin call.
type adminError struct {
	Error string `json:"error"`
}

// postFaults accepts one Fault object or an array of them; all are validated
// before any is added.
func (s *Server) postFaults(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
	if err != nil {
		writeAdmin(w, http.StatusBadRequest, adminError{"read body: " + err.Error()})
		return
	}
	var faults []Fault
	if trimmed := bytes.TrimSpace(b); len(trimmed) > 0 && trimmed[0] == '[' {
		err = decodeStrict(b, &faults)
	} else {
		var f Fault
		err = decodeStrict(b, &f)
		faults = []Fault{f}
	}
	if err != nil {
		writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
		return
	}
	for _, f := range faults {
		if err := f.validate(); err != nil {
			writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
			return
		}
	}
	for _, f := range faults {
		if err := s.AddFault(f); err != nil {
			writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
			return
		}
	}
	writeAdmin(w, http.StatusCreated, s.Faults())
}

// postInstances upserts by id, or replaces everything with ?replace=true.
func (s *Server) postInstances(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
	if err != nil {
		writeAdmin(w, http.StatusBadRequest, adminError{"read body: " + err.Error()})
		return
	}
	var f StateFile
	if err := decodeStrict(b, &f); err != nil {
		writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
		return
	}
	if f.Accounts != nil {
		if _, err := normaliseRoles(f.RoleMap()); err != nil {
			writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
			return
		}
	}
	if r.URL.Query().Get("replace") == "true" {
		err = s.SetInstances(f.Instances)
	} else {
		err = s.UpsertInstances(f.Instances)
	}
	if err == nil && f.Accounts != nil {
		err = s.SetRoles(f.RoleMap())
	}
	if err != nil {
		writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
		return
	}
	writeAdmin(w, http.StatusOK, StateFile{Instances: s.Instances()})
}

func loopbackRemote(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeAdmin(w, http.StatusMethodNotAllowed, adminError{"method not allowed"})
}

func writeAdmin(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
