package decode

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// The fast path decodes the common case — one bare CloudTrail record or one
// EventBridge envelope around one, with plain strings — in a few
// allocations. It only ever succeeds: on anything unusual (escapes in
// strings, wrong types, duplicate or case-folded keys, resources lists, log
// files, SQS messages, any failure) it reports false and the caller decodes
// with encoding/json, which then yields the same Record or the error. FuzzBytes
// checks that both paths agree.
//
// The input is validated with json.Valid and copied once into a private
// buffer (an SQS body that batch.go unescaped already is one, and is not
// copied again); strings and raw messages of the Record point into that buffer,
// which is never written after the copy, and the raw messages are capped
// slices over bytes no string shares.

// fastResult is what the fast path decoded.
type fastResult struct {
	rec        recordWire
	envelope   bool   // an EventBridge envelope; rec is its detail
	envelopeID string // the envelope's id
}

// fastDecode decodes v (trimmed, starting with '{') or reports false. The
// Record does not refer to v.
func fastDecode(v []byte) (fastResult, bool) {
	if !json.Valid(v) {
		return fastResult{}, false
	}
	buf := make([]byte, len(v))
	copy(buf, v)
	return fastDecodeValid(buf)
}

// fastDecodeOwned is fastDecode for a buffer the caller hands over: the
// Record's strings point into buf, which nobody may write afterwards.
func fastDecodeOwned(buf []byte) (fastResult, bool) {
	if !json.Valid(buf) {
		return fastResult{}, false
	}
	return fastDecodeValid(buf)
}

// fastDecodeValid decodes buf, valid JSON owned by the Record from now on.
func fastDecodeValid(buf []byte) (fastResult, bool) {
	var res fastResult
	p := fastParser{buf: buf}
	var (
		top                    recordWire
		detailType, source     string
		detail                 *recordWire
		hasDetailKey, hasResrc bool
		seenTop                uint8
		seenRec                uint32
	)
	ok := p.object(func(key string) bool {
		switch key {
		case "detail-type":
			return p.once(&seenTop, 0) && p.stringField(&detailType)
		case "source":
			return p.once(&seenTop, 1) && p.stringField(&source)
		case "id":
			return p.once(&seenTop, 2) && p.stringField(&res.envelopeID)
		case "detail":
			if !p.once(&seenTop, 3) {
				return false
			}
			hasDetailKey = true
			if p.null() {
				detail = nil
				return true
			}
			detail = &res.rec
			return p.record(detail)
		case "resources":
			// An envelope's ARN strings are dropped; a record's
			// resources are left to encoding/json.
			if !p.once(&seenTop, 4) {
				return false
			}
			switch {
			case p.null():
			case p.emptyArray():
				top.Resources = []Resource{}
			default:
				hasResrc = true
				p.skip()
			}
			return true
		case "Records", "messageId", "body":
			return false
		}
		if foldsTo(key, topNames) {
			return false
		}
		return p.recordMember(&top, key, &seenRec)
	})
	if !ok || top.EventSource == sqsEventSource {
		return res, false
	}
	if detailType != "" || hasDetailKey {
		if detail == nil || !cloudTrailDetailType(detailType) || !strings.HasPrefix(source, "aws.") || !detail.looksLikeRecord() {
			return res, false
		}
		res.envelope = true
		return res, true
	}
	if hasResrc || !top.looksLikeRecord() {
		return res, false
	}
	res.rec = top
	res.envelopeID = ""
	return res, true
}

// fastMember decodes one member of a log file's Records (as elemWire would
// be decoded) or reports false; SQS messages are left to encoding/json.
func fastMember(v []byte) (recordWire, bool) {
	var w recordWire
	if !json.Valid(v) {
		return w, false
	}
	buf := make([]byte, len(v))
	copy(buf, v)
	p := fastParser{buf: buf}
	var seen uint32
	ok := p.object(func(key string) bool {
		if foldsTo(key, memberNames) {
			return false
		}
		return p.recordMember(&w, key, &seen)
	})
	if !ok || w.EventSource == sqsEventSource {
		return w, false
	}
	return w, true
}

// Names of the fields of each level, for spotting keys encoding/json would
// match case-insensitively.
var (
	memberNames = []string{"messageId", "body"}
	topNames    = []string{"detail-type", "source", "id", "detail", "resources", "Records", "messageId", "body"}

	recordNames = []string{"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName",
		"awsRegion", "sourceIPAddress", "userAgent", "errorCode", "errorMessage", "requestParameters",
		"responseElements", "additionalEventData", "requestID", "eventID", "readOnly", "eventType",
		"managementEvent", "recipientAccountId", "eventCategory", "vpcEndpointId", "vpcEndpointAccountId",
		"sharedEventID", "tlsDetails", "resources"}
	userIdentityNames = []string{"type", "principalId", "arn", "accountId", "accessKeyId", "userName",
		"invokedBy", "identityProvider", "credentialId", "sessionContext"}
	sessionContextNames = []string{"attributes", "sessionIssuer", "sourceIdentity", "webIdFederationData"}
	attributesNames     = []string{"creationDate", "mfaAuthenticated"}
	sessionIssuerNames  = []string{"type", "principalId", "arn", "accountId", "userName"}
	webIDNames          = []string{"federatedProvider"}
	tlsNames            = []string{"tlsVersion", "cipherSuite", "clientProvidedHostHeader"}
)

// foldsTo reports whether key case-insensitively equals one of names;
// non-ASCII keys count as matching (encoding/json folds some of them).
func foldsTo(key string, names []string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return true
		}
	}
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}

// fastParser walks JSON already checked by json.Valid.
type fastParser struct {
	buf []byte
	i   int
}

func (p *fastParser) ws() {
	for p.i < len(p.buf) {
		switch p.buf[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) peek() byte {
	if p.i < len(p.buf) {
		return p.buf[p.i]
	}
	return 0
}

// once sets bit b in *seen and reports false if it was already set: a
// duplicate key, left to encoding/json.
func (p *fastParser) once(seen *uint8, b uint) bool {
	if *seen&(1<<b) != 0 {
		return false
	}
	*seen |= 1 << b
	return true
}

// object calls member for each key of the object at p.i, with p.i at the
// value; member must consume the value.
func (p *fastParser) object(member func(key string) bool) bool {
	p.ws()
	if p.peek() != '{' {
		return false
	}
	p.i++
	p.ws()
	if p.peek() == '}' {
		p.i++
		return true
	}
	for {
		p.ws()
		key, ok := p.str()
		if !ok {
			return false
		}
		p.ws()
		p.i++ // ':'
		p.ws()
		if !member(key) {
			return false
		}
		p.ws()
		c := p.peek()
		p.i++
		if c == '}' {
			return true
		}
		if c != ',' {
			return false
		}
	}
}

// str reads a string without escapes; false for escapes or invalid UTF-8
// (which encoding/json would rewrite).
func (p *fastParser) str() (string, bool) {
	if p.peek() != '"' {
		return "", false
	}
	p.i++
	start := p.i
	high := false
	for p.i < len(p.buf) {
		c := p.buf[p.i]
		switch {
		case c == '"':
			s := p.buf[start:p.i]
			p.i++
			if high && !utf8.Valid(s) {
				return "", false
			}
			if len(s) == 0 {
				return "", true
			}
			return unsafe.String(&s[0], len(s)), true
		case c == '\\':
			return "", false
		case c >= utf8.RuneSelf:
			high = true
		}
		p.i++
	}
	return "", false
}

// null consumes a null.
func (p *fastParser) null() bool {
	if p.peek() == 'n' {
		p.i += 4
		return true
	}
	return false
}

// emptyArray consumes [] (with any white space inside).
func (p *fastParser) emptyArray() bool {
	if p.peek() != '[' {
		return false
	}
	j := p.i + 1
	for j < len(p.buf) && (p.buf[j] == ' ' || p.buf[j] == '\t' || p.buf[j] == '\n' || p.buf[j] == '\r') {
		j++
	}
	if j < len(p.buf) && p.buf[j] == ']' {
		p.i = j + 1
		return true
	}
	return false
}

// skip consumes one value.
func (p *fastParser) skip() {
	switch p.peek() {
	case '"':
		p.skipString()
	case '{', '[':
		depth := 0
		for p.i < len(p.buf) {
			switch p.buf[p.i] {
			case '"':
				p.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					p.i++
					return
				}
			}
			p.i++
		}
	default:
		for p.i < len(p.buf) {
			switch p.buf[p.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			p.i++
		}
	}
}

func (p *fastParser) skipString() {
	p.i++
	for p.i < len(p.buf) {
		switch p.buf[p.i] {
		case '\\':
			p.i += 2
			continue
		case '"':
			p.i++
			return
		}
		p.i++
	}
}

// stringField decodes a string or null (left unchanged, as encoding/json
// does) into dst.
func (p *fastParser) stringField(dst *string) bool {
	if p.null() {
		return true
	}
	s, ok := p.str()
	if ok {
		*dst = s
	}
	return ok
}

// rawField keeps the value's bytes, as json.RawMessage does (null included).
func (p *fastParser) rawField(dst *json.RawMessage) {
	start := p.i
	p.skip()
	*dst = p.buf[start:p.i:p.i]
}

// boolField decodes a flexible boolean.
func (p *fastParser) boolField(f *flexBool) bool {
	start := p.i
	p.skip()
	return f.parse("", p.buf[start:p.i]) == nil
}

// record decodes a record object into w.
func (p *fastParser) record(w *recordWire) bool {
	if p.peek() != '{' {
		return false
	}
	var seen uint32
	return p.object(func(key string) bool {
		return p.recordMember(w, key, &seen)
	})
}

// recordMember decodes the value of one record key into w; seen holds the
// keys already met in this record.
func (p *fastParser) recordMember(w *recordWire, key string, seen *uint32) bool {
	r := &w.Record
	var bit uint
	var ok bool
	switch key {
	case "eventVersion":
		bit, ok = 0, p.stringField(&r.EventVersion)
	case "eventTime":
		bit, ok = 1, p.stringField(&r.EventTime)
	case "eventSource":
		bit, ok = 2, p.stringField(&r.EventSource)
	case "eventName":
		bit, ok = 3, p.stringField(&r.EventName)
	case "awsRegion":
		bit, ok = 4, p.stringField(&r.AWSRegion)
	case "sourceIPAddress":
		bit, ok = 5, p.stringField(&r.SourceIPAddress)
	case "userAgent":
		bit, ok = 6, p.stringField(&r.UserAgent)
	case "errorCode":
		bit, ok = 7, p.stringField(&r.ErrorCode)
	case "errorMessage":
		bit, ok = 8, p.stringField(&r.ErrorMessage)
	case "requestID":
		bit, ok = 9, p.stringField(&r.RequestID)
	case "eventID":
		bit, ok = 10, p.stringField(&r.EventID)
	case "eventType":
		bit, ok = 11, p.stringField(&r.EventType)
	case "recipientAccountId":
		bit, ok = 12, p.stringField(&r.RecipientAccountID)
	case "eventCategory":
		bit, ok = 13, p.stringField(&r.EventCategory)
	case "vpcEndpointId":
		bit, ok = 14, p.stringField(&r.VPCEndpointID)
	case "vpcEndpointAccountId":
		bit, ok = 15, p.stringField(&r.VPCEndpointAccount)
	case "sharedEventID":
		bit, ok = 16, p.stringField(&r.SharedEventID)
	case "requestParameters":
		bit, ok = 17, true
		p.rawField(&r.RequestParameters)
	case "responseElements":
		bit, ok = 18, true
		p.rawField(&r.ResponseElements)
	case "additionalEventData":
		bit, ok = 19, true
		p.rawField(&r.AdditionalEventData)
	case "readOnly":
		bit, ok = 20, p.boolField(&w.ReadOnly.flexBool)
	case "managementEvent":
		bit, ok = 21, p.boolField(&w.ManagementEvent.flexBool)
	case "userIdentity":
		bit, ok = 22, p.userIdentity(&r.UserIdentity)
	case "tlsDetails":
		bit, ok = 23, p.tlsDetails(&r.TLSDetails)
	case "resources":
		bit = 24
		if p.null() {
			ok = true
		} else if p.emptyArray() {
			r.Resources, ok = []Resource{}, true
		}
	default:
		if foldsTo(key, recordNames) {
			return false
		}
		p.skip()
		return true
	}
	if !ok || *seen&(1<<bit) != 0 {
		return false
	}
	*seen |= 1 << bit
	return true
}

// userIdentity decodes a userIdentity object (null leaves it unchanged).
func (p *fastParser) userIdentity(u *UserIdentity) bool {
	if p.null() {
		return true
	}
	var seen uint16
	return p.object(func(key string) bool {
		var bit uint
		var ok bool
		switch key {
		case "type":
			bit, ok = 0, p.stringField(&u.Type)
		case "principalId":
			bit, ok = 1, p.stringField(&u.PrincipalID)
		case "arn":
			bit, ok = 2, p.stringField(&u.ARN)
		case "accountId":
			bit, ok = 3, p.stringField(&u.AccountID)
		case "accessKeyId":
			bit, ok = 4, p.stringField(&u.AccessKeyID)
		case "userName":
			bit, ok = 5, p.stringField(&u.UserName)
		case "invokedBy":
			bit, ok = 6, p.stringField(&u.InvokedBy)
		case "identityProvider":
			bit, ok = 7, p.stringField(&u.IdentityProvider)
		case "credentialId":
			bit, ok = 8, p.stringField(&u.CredentialID)
		case "sessionContext":
			bit, ok = 9, p.sessionContext(&u.SessionContext)
		default:
			if foldsTo(key, userIdentityNames) {
				return false
			}
			p.skip()
			return true
		}
		return ok && once16(&seen, bit)
	})
}

func once16(seen *uint16, bit uint) bool {
	if *seen&(1<<bit) != 0 {
		return false
	}
	*seen |= 1 << bit
	return true
}

// sessionContext decodes a sessionContext object; null sets it nil.
func (p *fastParser) sessionContext(dst **SessionContext) bool {
	if p.null() {
		*dst = nil
		return true
	}
	if p.peek() != '{' {
		return false
	}
	sc := new(SessionContext)
	var seen uint16
	ok := p.object(func(key string) bool {
		var bit uint
		var ok bool
		switch key {
		case "attributes":
			bit, ok = 0, p.attributes(&sc.Attributes)
		case "sessionIssuer":
			bit, ok = 1, p.sessionIssuer(&sc.SessionIssuer)
		case "sourceIdentity":
			bit, ok = 2, p.stringField(&sc.SourceIdentity)
		case "webIdFederationData":
			bit, ok = 3, p.webID(&sc.WebIDFederationData)
		default:
			if foldsTo(key, sessionContextNames) {
				return false
			}
			p.skip()
			return true
		}
		return ok && once16(&seen, bit)
	})
	*dst = sc
	return ok
}

func (p *fastParser) attributes(a *SessionAttributes) bool {
	if p.null() {
		return true
	}
	var seen uint16
	return p.object(func(key string) bool {
		var bit uint
		var ok bool
		switch key {
		case "creationDate":
			bit, ok = 0, p.stringField(&a.CreationDate)
		case "mfaAuthenticated":
			bit, ok = 1, p.stringField(&a.MFAAuthenticated)
		default:
			if foldsTo(key, attributesNames) {
				return false
			}
			p.skip()
			return true
		}
		return ok && once16(&seen, bit)
	})
}

func (p *fastParser) sessionIssuer(dst **SessionIssuer) bool {
	if p.null() {
		*dst = nil
		return true
	}
	if p.peek() != '{' {
		return false
	}
	si := new(SessionIssuer)
	var seen uint16
	ok := p.object(func(key string) bool {
		var bit uint
		var ok bool
		switch key {
		case "type":
			bit, ok = 0, p.stringField(&si.Type)
		case "principalId":
			bit, ok = 1, p.stringField(&si.PrincipalID)
		case "arn":
			bit, ok = 2, p.stringField(&si.ARN)
		case "accountId":
			bit, ok = 3, p.stringField(&si.AccountID)
		case "userName":
			bit, ok = 4, p.stringField(&si.UserName)
		default:
			if foldsTo(key, sessionIssuerNames) {
				return false
			}
			p.skip()
			return true
		}
		return ok && once16(&seen, bit)
	})
	*dst = si
	return ok
}

func (p *fastParser) webID(dst **WebIDFederationData) bool {
	if p.null() {
		*dst = nil
		return true
	}
	if p.peek() != '{' {
		return false
	}
	wd := new(WebIDFederationData)
	var seen uint16
	ok := p.object(func(key string) bool {
		if key == "federatedProvider" {
			return p.stringField(&wd.FederatedProvider) && once16(&seen, 0)
		}
		if foldsTo(key, webIDNames) {
			return false
		}
		p.skip()
		return true
	})
	*dst = wd
	return ok
}

func (p *fastParser) tlsDetails(dst **TLSDetails) bool {
	if p.null() {
		*dst = nil
		return true
	}
	if p.peek() != '{' {
		return false
	}
	td := new(TLSDetails)
	var seen uint16
	ok := p.object(func(key string) bool {
		var bit uint
		var ok bool
		switch key {
		case "tlsVersion":
			bit, ok = 0, p.stringField(&td.TLSVersion)
		case "cipherSuite":
			bit, ok = 1, p.stringField(&td.CipherSuite)
		case "clientProvidedHostHeader":
			bit, ok = 2, p.stringField(&td.ClientProvidedHostHeader)
		default:
			if foldsTo(key, tlsNames) {
				return false
			}
			p.skip()
			return true
		}
		return ok && once16(&seen, bit)
	})
	*dst = td
	return ok
}
