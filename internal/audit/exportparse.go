package audit

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// lineParser reads the export lines Export writes several times faster
// than encoding/json, for offline verification of large exports. It only
// accepts a flat object of known keys whose strings have no escapes; for
// anything else parse reports false and the caller falls back to
// encoding/json, which has the last word on what a line means.
type lineParser struct {
	strs map[string]string
}

func (p *lineParser) parse(b []byte, l *exportLine) bool {
	if p.strs == nil {
		p.strs = map[string]string{}
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	for first := true; ; first = false {
		if i < len(b) && b[i] == '}' && first {
			return false
		}
		key, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		start := i
		if i >= len(b) {
			return false
		}
		var str []byte
		isNull := false
		switch c := b[i]; {
		case c == '"':
			if str, i, ok = plainString(b, i); !ok {
				return false
			}
		case string(key) == "payload":
			if i, ok = skipValue(b, i); !ok {
				return false
			}
		case c == 'n':
			if len(b) < i+4 || string(b[i:i+4]) != "null" {
				return false
			}
			i += 4
			isNull = true
		default:
			for i < len(b) && (b[i] == '-' || (b[i] >= '0' && b[i] <= '9')) {
				i++
			}
		}
		val := b[start:i]
		if !p.set(l, string(key), val, str, isNull) {
			return false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			return skipSpace(b, i+1) == len(b)
		}
		if b[i] != ',' {
			return false
		}
		i = skipSpace(b, i+1)
	}
}

// set stores one value; str is the content of a string value, val the raw
// value.
func (p *lineParser) set(l *exportLine, key string, val, str []byte, isNull bool) bool {
	isStr := str != nil || (len(val) == 2 && val[0] == '"')
	num := func(dst *int64) bool {
		n, err := strconv.ParseInt(string(val), 10, 64)
		*dst = n
		return err == nil
	}
	hx := func(dst *HexBytes) bool {
		if !isStr {
			return false
		}
		d, err := hex.AppendDecode(make([]byte, 0, len(str)/2), str)
		*dst = d
		return err == nil
	}
	tm := func(dst *time.Time) bool {
		if !isStr {
			return false
		}
		t, err := time.Parse(time.RFC3339Nano, string(str))
		*dst = t
		return err == nil
	}
	text := func(dst *string) bool {
		if !isStr {
			return false
		}
		*dst = p.intern(str)
		return true
	}
	switch key {
	case "type":
		return text(&l.Type)
	case "seq":
		return num(&l.Seq)
	case "id":
		return num(&l.ID)
	case "head_seq":
		return num(&l.HeadSeq)
	case "occurred_at":
		return tm(&l.OccurredAt)
	case "created_at":
		return tm(&l.CreatedAt)
	case "kind":
		return text(&l.Kind)
	case "actor":
		return text(&l.Actor)
	case "db_instance_id":
		return text(&l.DBInstanceID)
	case "error_code":
		return text(&l.ErrorCode)
	case "alibaba_request_id":
		if !isStr {
			return false
		}
		l.AlibabaRequestID = string(str)
		return true
	case "key_id":
		return text(&l.KeyID)
	case "request_id":
		if isNull {
			l.RequestID = uuid.NullUUID{}
			return true
		}
		if !isStr {
			return false
		}
		u, err := uuid.ParseBytes(str)
		l.RequestID = uuid.NullUUID{UUID: u, Valid: err == nil}
		return err == nil
	case "payload":
		if !json.Valid(val) {
			return false
		}
		l.Payload = append(l.Payload[:0], val...)
		return true
	case "prev_hash":
		return hx(&l.PrevHash)
	case "hash":
		return hx(&l.Hash)
	case "head_hash":
		return hx(&l.HeadHash)
	case "prev_signature":
		return hx(&l.PrevSignature)
	case "signature":
		return hx(&l.Signature)
	}
	return false // payload_text and anything unknown: encoding/json decides
}

func (p *lineParser) intern(b []byte) string {
	if v, ok := p.strs[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(p.strs) < internLimit {
		p.strs[v] = v
	}
	return v
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// plainString reads a JSON string at b[i] without escapes and control
// characters, returning its content and the index after it.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, i, false
		}
	}
	return nil, i, false
}

// skipValue returns the index after the JSON value at b[i]; strings are
// skipped escape-aware; set checks the value with json.Valid.
func skipValue(b []byte, i int) (int, bool) {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if i >= len(b) {
				return i, false
			}
			if depth == 0 {
				return i + 1, true
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return i, false
			}
			if depth == 0 {
				return i + 1, true
			}
		case ',':
			if depth == 0 {
				return i, true
			}
		default:
			if depth == 0 && (isJSONSpace(b[i])) {
				return i, true
			}
		}
	}
	return i, depth == 0
}
