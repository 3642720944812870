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
			writeAdmin(w, http.StatusOK, StateFile{Instances: s.Instances()})
		case http.MethodPost:
			s.postInstances(w, r)
		default:
			methodNotAllowed(w, "GET, POST")
		}
	default:
		writeAdmin(w, http.StatusNotFound, adminError{"unknown admin path " + r.URL.Path})
	}
}

// adminError is the body of a failed admin call.
type adminError struct {
	Error string `json:"error"`
}

// postFaults accepts one Fault object or an array of them; all are validated
// before any is added.
func (s *Server) postFaults(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
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
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeAdmin(w, http.StatusBadRequest, adminError{"read body: " + err.Error()})
		return
	}
	var f StateFile
	if err := decodeStrict(b, &f); err != nil {
		writeAdmin(w, http.StatusBadRequest, adminError{err.Error()})
		return
	}
	if r.URL.Query().Get("replace") == "true" {
		err = s.SetInstances(f.Instances)
	} else {
		err = s.UpsertInstances(f.Instances)
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
