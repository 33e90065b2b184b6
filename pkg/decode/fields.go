package decode

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// The decoders below give a Record exactly what json.Unmarshal would give
// the wire types of the previous decoder (FuzzRecord compares them): keys
// match their field exactly or, failing that, case-insensitively; a
// repeated key decodes again into the same field (the last wins, nested
// objects merge); null leaves a string or struct unchanged and clears a
// pointer or slice; a value of the wrong type is a type error naming its
// JSON path, and decoding goes on so that the first such error is the one
// reported.

// wire is a record being decoded: the Record, the flexible booleans and the
// one allocation that holds the record's nested structs.
type wire struct {
	Record
	readOnly, mgmt flexBool
	box            *recordBox
}

// recordBox holds the parts of a Record behind pointers, so that a record
// costs one allocation for all of them.
type recordBox struct {
	sc       SessionContext
	si       SessionIssuer
	web      WebIDFederationData
	tls      TLSDetails
	ro, mgmt bool
}

func (w *wire) boxed() *recordBox {
	if w.box == nil {
		w.box = new(recordBox)
	}
	return w.box
}

// record returns the Record with the flexible booleans set, eventID
// trimmed and Time parsed.
func (w *wire) record() Record {
	rec := w.Record
	if w.readOnly.set {
		b := w.boxed()
		b.ro = w.readOnly.v
		rec.ReadOnly = &b.ro
	}
	if w.mgmt.set {
		b := w.boxed()
		b.mgmt = w.mgmt.v
		rec.ManagementEvent = &b.mgmt
	}
	rec.EventID = strings.TrimSpace(rec.EventID)
	rec.Time, _ = ParseTime(rec.EventTime)
	return rec
}

// looksLikeRecord reports whether any CloudTrail record field was present.
func (w *wire) looksLikeRecord() bool {
	r := &w.Record
	return r.EventName != "" || r.EventSource != "" || r.EventID != "" ||
		r.EventVersion != "" || r.EventTime != "" || r.RequestID != "" ||
		r.EventType != "" || r.RecipientAccountID != "" ||
		r.UserIdentity != (UserIdentity{}) || w.readOnly.set
}

// flexBool is a boolean written as a JSON boolean or as the string "true"
// or "false" in any of three cases (SIEM exports). null and "" leave it
// unset.
type flexBool struct {
	set, v bool
}

func (f *flexBool) parse(field string, b []byte) error {
	switch string(b) {
	case "null", `""`:
		return nil
	case "true", `"true"`, `"True"`, `"TRUE"`:
		f.set, f.v = true, true
		return nil
	case "false", `"false"`, `"False"`, `"FALSE"`:
		f.set, f.v = true, false
		return nil
	}
	return fmt.Errorf("%s: want true or false, got %s", field, clip(b, 40))
}

// Field ids: one per key any decoded object can hold.
type field uint8

const (
	fNone field = iota
	// record
	fEventVersion
	fUserIdentity
	fEventTime
	fEventSource
	fEventName
	fAWSRegion
	fSourceIP
	fUserAgent
	fErrorCode
	fErrorMessage
	fRequestParameters
	fResponseElements
	fAdditionalEventData
	fRequestID
	fEventID
	fReadOnly
	fEventType
	fManagementEvent
	fRecipientAccountID
	fEventCategory
	fVPCEndpointID
	fVPCEndpointAccount
	fSharedEventID
	fTLSDetails
	fResources
	// SQS message
	fMessageID
	fBody
	// EventBridge envelope and log file
	fDetailType
	fSource
	fID
	fDetail
	fRecords
)

// keys maps each JSON key to its field id; fold maps the lower-cased key
// (for keys that do not match exactly).
var (
	keys = map[string]field{
		"eventVersion": fEventVersion, "userIdentity": fUserIdentity, "eventTime": fEventTime,
		"eventSource": fEventSource, "eventName": fEventName, "awsRegion": fAWSRegion,
		"sourceIPAddress": fSourceIP, "userAgent": fUserAgent, "errorCode": fErrorCode,
		"errorMessage": fErrorMessage, "requestParameters": fRequestParameters,
		"responseElements": fResponseElements, "additionalEventData": fAdditionalEventData,
		"requestID": fRequestID, "eventID": fEventID, "readOnly": fReadOnly, "eventType": fEventType,
		"managementEvent": fManagementEvent, "recipientAccountId": fRecipientAccountID,
		"eventCategory": fEventCategory, "vpcEndpointId": fVPCEndpointID,
		"vpcEndpointAccountId": fVPCEndpointAccount, "sharedEventID": fSharedEventID,
		"tlsDetails": fTLSDetails, "resources": fResources,
		"messageId": fMessageID, "body": fBody,
		"detail-type": fDetailType, "source": fSource, "id": fID, "detail": fDetail, "Records": fRecords,
	}
	fold = func() map[string]field {
		m := make(map[string]field, len(keys))
		for k, f := range keys {
			m[strings.ToLower(k)] = f
		}
		return m
	}()
)

// Which fields each kind of object has.
var (
	recordFields = fieldSet(fEventVersion, fResources)
	memberFields = recordFields | fieldSet(fMessageID, fBody)
	topFields    = memberFields | fieldSet(fDetailType, fRecords)
)

// fieldSet returns the set of fields from lo to hi.
func fieldSet(lo, hi field) uint64 {
	var s uint64
	for f := lo; f <= hi; f++ {
		s |= 1 << f
	}
	return s
}

// lookup returns the field of key among set: an exact match, else a
// case-insensitive one as encoding/json accepts, else fNone.
func lookup(key string, set uint64) field {
	f := exact(key)
	if f == fNone {
		f = foldLookup(key)
	}
	if set&(1<<f) == 0 {
		return fNone
	}
	return f
}

// exact is keys[key], as a switch (faster than the map for the keys of
// every record).
func exact(key string) field {
	switch key {
	case "eventVersion":
		return fEventVersion
	case "userIdentity":
		return fUserIdentity
	case "eventTime":
		return fEventTime
	case "eventSource":
		return fEventSource
	case "eventName":
		return fEventName
	case "awsRegion":
		return fAWSRegion
	case "sourceIPAddress":
		return fSourceIP
	case "userAgent":
		return fUserAgent
	case "errorCode":
		return fErrorCode
	case "errorMessage":
		return fErrorMessage
	case "requestParameters":
		return fRequestParameters
	case "responseElements":
		return fResponseElements
	case "additionalEventData":
		return fAdditionalEventData
	case "requestID":
		return fRequestID
	case "eventID":
		return fEventID
	case "readOnly":
		return fReadOnly
	case "eventType":
		return fEventType
	case "managementEvent":
		return fManagementEvent
	case "recipientAccountId":
		return fRecipientAccountID
	case "eventCategory":
		return fEventCategory
	case "vpcEndpointId":
		return fVPCEndpointID
	case "vpcEndpointAccountId":
		return fVPCEndpointAccount
	case "sharedEventID":
		return fSharedEventID
	case "tlsDetails":
		return fTLSDetails
	case "resources":
		return fResources
	case "messageId":
		return fMessageID
	case "body":
		return fBody
	case "detail-type":
		return fDetailType
	case "source":
		return fSource
	case "id":
		return fID
	case "detail":
		return fDetail
	case "Records":
		return fRecords
	}
	return fNone
}

func foldLookup(key string) field {
	var small [32]byte
	if len(key) > len(small) {
		return fNone
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= utf8.RuneSelf {
			return foldUnicode(key)
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		small[i] = c
	}
	return fold[string(small[:len(key)])]
}

// foldUnicode matches a key with non-ASCII bytes as encoding/json does
// (Unicode simple folding: "ſ" matches "s", "K" (Kelvin) matches "k").
func foldUnicode(key string) field {
	for k, f := range keys {
		if strings.EqualFold(key, k) {
			return f
		}
	}
	return fNone
}

// Types named in type errors.
var (
	typString    = reflect.TypeFor[string]()
	typObject    = reflect.TypeFor[Record]()
	typArray     = reflect.TypeFor[[]Resource]()
	typResources = reflect.TypeFor[Resource]()
)

// typeError is a json.UnmarshalTypeError that names the JSON path
// ("detail.eventName") rather than Go struct names.
type typeError struct {
	path string
	err  *json.UnmarshalTypeError
}

func (e *typeError) Error() string {
	return "json: cannot unmarshal " + e.err.Value + " into " + e.path + " of type " + typeName(e.err.Type)
}

func (e *typeError) Unwrap() error { return e.err }

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		return "object"
	case reflect.Slice:
		return "array"
	}
	return t.String()
}

// soft records a type error at prefix+name (the first one wins) and skips
// the value.
func (p *parser) soft(errs *error, c byte, t reflect.Type, prefix, name string) bool {
	if *errs == nil {
		path := prefix + name
		*errs = &typeError{path: path, err: &json.UnmarshalTypeError{Value: kind(c), Type: t, Field: path, Offset: p.base + int64(p.i)}}
	}
	return p.skip()
}

// key reads an object key and the colon after it; the key points into the
// buffer unless it had escapes.
func (p *parser) key() (string, bool) {
	if p.buf[p.i] != '"' {
		return "", p.bad("looking for beginning of object key string")
	}
	raw, esc, high, ok := p.str()
	if !ok || !p.colon() {
		return "", false
	}
	p.ws()
	if p.i >= len(p.buf) {
		return "", p.eof()
	}
	return text(raw, esc, high), true
}

// open consumes the '{' at p.i.
func (p *parser) open() bool {
	if !p.enter() {
		return false
	}
	p.i++
	return true
}

// nextKey returns the next key of the object open() began, with p.i at its
// value, which the caller must consume. At the end of the object it
// consumes the '}' and reports false with p.err nil; on a syntax error it
// reports false with p.err set.
func (p *parser) nextKey(first bool) (string, bool) {
	c, ok := p.next()
	if !ok {
		return "", false
	}
	if !first {
		switch c {
		case ',':
			p.i++
			if c, ok = p.next(); !ok {
				return "", false
			}
		case '}':
			p.i++
			p.depth--
			return "", false
		default:
			return "", p.bad("after object key:value pair")
		}
	} else if c == '}' {
		p.i++
		p.depth--
		return "", false
	}
	return p.key()
}

// ended reports whether nextKey's false was the end of the object.
func (p *parser) ended() bool { return p.err == nil }

// stringInto decodes a string (null: unchanged) into dst.
func (p *parser) stringInto(dst *string, errs *error, prefix, name string) bool {
	switch c := p.buf[p.i]; c {
	case '"':
		raw, esc, high, ok := p.str()
		if ok {
			*dst = text(raw, esc, high)
		}
		return ok
	case 'n':
		return p.literal("null")
	default:
		return p.soft(errs, c, typString, prefix, name)
	}
}

// rawInto keeps the value's text, as json.RawMessage does (null included).
func (p *parser) rawInto(dst *json.RawMessage) bool {
	start := p.i
	if !p.skip() {
		return false
	}
	*dst = p.buf[start:p.i:p.i]
	return true
}

// flexInto decodes a flexible boolean; a bad one is the record's error.
func (p *parser) flexInto(f *flexBool, errs *error, name string) bool {
	start := p.i
	if !p.skip() {
		return false
	}
	if err := f.parse(name, p.buf[start:p.i]); err != nil && *errs == nil {
		*errs = err
	}
	return true
}

// object checks that the value at p.i is an object and opens it: null
// reports false with ok (nothing to decode), any other kind is a type
// error.
func (p *parser) object(errs *error, t reflect.Type, prefix, name string) (isObject, ok bool) {
	switch c := p.buf[p.i]; c {
	case '{':
		return true, p.open()
	case 'n':
		return false, p.literal("null")
	default:
		return false, p.soft(errs, c, t, prefix, name)
	}
}

// recordField decodes the value of one record key into w; prefix starts
// the record's JSON paths ("" or "detail.").
func (p *parser) recordField(w *wire, f field, errs *error, prefix string) bool {
	r := &w.Record
	switch f {
	case fEventVersion:
		return p.stringInto(&r.EventVersion, errs, prefix, "eventVersion")
	case fEventTime:
		return p.stringInto(&r.EventTime, errs, prefix, "eventTime")
	case fEventSource:
		return p.stringInto(&r.EventSource, errs, prefix, "eventSource")
	case fEventName:
		return p.stringInto(&r.EventName, errs, prefix, "eventName")
	case fAWSRegion:
		return p.stringInto(&r.AWSRegion, errs, prefix, "awsRegion")
	case fSourceIP:
		return p.stringInto(&r.SourceIPAddress, errs, prefix, "sourceIPAddress")
	case fUserAgent:
		return p.stringInto(&r.UserAgent, errs, prefix, "userAgent")
	case fErrorCode:
		return p.stringInto(&r.ErrorCode, errs, prefix, "errorCode")
	case fErrorMessage:
		return p.stringInto(&r.ErrorMessage, errs, prefix, "errorMessage")
	case fRequestID:
		return p.stringInto(&r.RequestID, errs, prefix, "requestID")
	case fEventID:
		return p.stringInto(&r.EventID, errs, prefix, "eventID")
	case fEventType:
		return p.stringInto(&r.EventType, errs, prefix, "eventType")
	case fRecipientAccountID:
		return p.stringInto(&r.RecipientAccountID, errs, prefix, "recipientAccountId")
	case fEventCategory:
		return p.stringInto(&r.EventCategory, errs, prefix, "eventCategory")
	case fVPCEndpointID:
		return p.stringInto(&r.VPCEndpointID, errs, prefix, "vpcEndpointId")
	case fVPCEndpointAccount:
		return p.stringInto(&r.VPCEndpointAccount, errs, prefix, "vpcEndpointAccountId")
	case fSharedEventID:
		return p.stringInto(&r.SharedEventID, errs, prefix, "sharedEventID")
	case fRequestParameters:
		return p.rawInto(&r.RequestParameters)
	case fResponseElements:
		return p.rawInto(&r.ResponseElements)
	case fAdditionalEventData:
		return p.rawInto(&r.AdditionalEventData)
	case fReadOnly:
		return p.flexInto(&w.readOnly, errs, "readOnly")
	case fManagementEvent:
		return p.flexInto(&w.mgmt, errs, "managementEvent")
	case fUserIdentity:
		return p.userIdentity(w, errs, prefix)
	case fTLSDetails:
		return p.tlsDetails(w, errs, prefix)
	case fResources:
		return p.resources(&r.Resources, errs, prefix)
	}
	return p.skip()
}

// recordObject decodes a record object (p.buf[p.i] is '{') into w.
func (p *parser) recordObject(w *wire, errs *error, prefix string) bool {
	return p.open() && p.recordFields(w, errs, prefix)
}

// recordFields decodes the members of a record object open() began.
func (p *parser) recordFields(w *wire, errs *error, prefix string) bool {
	for first := true; ; first = false {
		k, ok := p.nextKey(first)
		if !ok {
			return p.ended()
		}
		if !p.recordField(w, lookup(k, recordFields), errs, prefix) {
			return false
		}
	}
}

// Field names of the nested objects, for keys that match only
// case-insensitively.
var (
	userIdentityNames = []string{"type", "principalId", "arn", "accountId", "accessKeyId", "userName",
		"invokedBy", "identityProvider", "credentialId", "sessionContext"}
	sessionContextNames = []string{"attributes", "sessionIssuer", "sourceIdentity", "webIdFederationData"}
	attributesNames     = []string{"creationDate", "mfaAuthenticated"}
	sessionIssuerNames  = []string{"type", "principalId", "arn", "accountId", "userName"}
	webIDNames          = []string{"federatedProvider"}
	tlsNames            = []string{"tlsVersion", "cipherSuite", "clientProvidedHostHeader"}
	resourceNames       = []string{"ARN", "accountId", "type"}
)

// canonical returns the name in names that key matches case-insensitively
// (encoding/json's rule for keys without an exact match), or key.
func canonical(key string, names []string) string {
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return n
		}
	}
	return key
}

func (p *parser) userIdentity(w *wire, errs *error, prefix string) bool {
	isObj, ok := p.object(errs, typObject, prefix, "userIdentity")
	if !isObj {
		return ok
	}
	u := &w.UserIdentity
	for first := true; ; first = false {
		k, ok := p.nextKey(first)
		if !ok {
			return p.ended()
		}
		folded := false
	again:
		switch k {
		case "type":
			ok = p.stringInto(&u.Type, errs, prefix, "userIdentity.type")
		case "principalId":
			ok = p.stringInto(&u.PrincipalID, errs, prefix, "userIdentity.principalId")
		case "arn":
			ok = p.stringInto(&u.ARN, errs, prefix, "userIdentity.arn")
		case "accountId":
			ok = p.stringInto(&u.AccountID, errs, prefix, "userIdentity.accountId")
		case "accessKeyId":
			ok = p.stringInto(&u.AccessKeyID, errs, prefix, "userIdentity.accessKeyId")
		case "userName":
			ok = p.stringInto(&u.UserName, errs, prefix, "userIdentity.userName")
		case "invokedBy":
			ok = p.stringInto(&u.InvokedBy, errs, prefix, "userIdentity.invokedBy")
		case "identityProvider":
			ok = p.stringInto(&u.IdentityProvider, errs, prefix, "userIdentity.identityProvider")
		case "credentialId":
			ok = p.stringInto(&u.CredentialID, errs, prefix, "userIdentity.credentialId")
		case "sessionContext":
			ok = p.sessionContext(w, errs, prefix)
		default:
			if !folded {
				k, folded = canonical(k, userIdentityNames), true
				goto again
			}
			ok = p.skip()
		}
		if !ok {
			return false
		}
	}
}

func (p *parser) sessionContext(w *wire, errs *error, prefix string) bool {
	u := &w.UserIdentity
	if p.buf[p.i] == 'n' {
		u.SessionContext = nil
		return p.literal("null")
	}
	isObj, ok := p.object(errs, typObject, prefix, "userIdentity.sessionContext")
	if !isObj {
		return ok
	}
	if u.SessionContext == nil {
		b := w.boxed()
		b.sc = SessionContext{}
		u.SessionContext = &b.sc
	}
	sc := u.SessionContext
	for first := true; ; first = false {
		k, ok := p.nextKey(first)
		if !ok {
			return p.ended()
		}
		folded := false
	again:
		switch k {
		case "attributes":
			ok = p.attributes(&sc.Attributes, errs, prefix)
		case "sessionIssuer":
			ok = p.sessionIssuer(w, sc, errs, prefix)
		case "sourceIdentity":
			ok = p.stringInto(&sc.SourceIdentity, errs, prefix, "userIdentity.sessionContext.sourceIdentity")
		case "webIdFederationData":
			ok = p.webID(w, sc, errs, prefix)
		default:
			if !folded {
				k, folded = canonical(k, sessionContextNames), true
				goto again
			}
			ok = p.skip()
		}
		if !ok {
			return false
		}
	}
}

func (p *parser) attributes(a *SessionAttributes, errs *error, prefix string) bool {
	isObj, ok := p.object(errs, typObject, prefix, "userIdentity.sessionContext.attributes")
	if !isObj {
		return ok
	}
	for first := true; ; first = false {
		k, ok := p.nextKey(first)
		if !ok {
			return p.ended()
		}
		switch canonicalFast(k, attributesNames) {
		case "creationDate":
			ok = p.stringInto(&a.CreationDate, errs, prefix, "userIdentity.sessionContext.attributes.creationDate")
		case "mfaAuthenticated":
			ok = p.stringInto(&a.MFAAuthenticated, errs, prefix, "userIdentity.sessionContext.attributes.mfaAuthenticated")
		default:
			ok = p.skip()
		}
		if !ok {
			return false
		}
	}
}

// canonicalFast is canonical for short name lists: the key itself when it
// matches exactly.
func canonicalFast(key string, names []string) string {
	for _, n := range names {
		if key == n {
			return n
		}
	}
	return canonical(key, names)
}

func (p *parser) sessionIssuer(w *wire, sc *SessionContext, errs *error, prefix string) bool {
	if p.buf[p.i] == 'n' {
		sc.SessionIssuer = nil
		return p.literal("null")
	}
	isObj, ok := p.object(errs, typObject, prefix, "userIdentity.sessionContext.sessionIssuer")
	if !isObj {
		return ok
	}
	if sc.SessionIssuer == nil {
		b := w.boxed()
		b.si = SessionIssuer{}
		sc.SessionIssuer = &b.si
	}
	si := sc.SessionIssuer
	for first := true; ; first = false {
		k, ok := p.nextKey(first)
		if !ok {
			return p.ended()
		}
		switch canonicalFast(k, sessionIssuerNames) {
		case "type":
			ok = p.stringInto(&si.Type, errs, prefix, "userIdentity.sessionContext.sessionIssuer.type")
		case "principalId":
			ok = p.stringInto(&si.PrincipalID, errs, prefix, "userIdentity.sessionContext.sessionIssuer.principalId")
		case "arn":
			ok = p.stringInto(&si.ARN, errs, prefix, "userIdentity.sessionContext.sessionIssuer.arn")
		case "accountId":
			ok = p.stringInto(&si.AccountID, errs, prefix, "userIdentity.sessionContext.sessionIssuer.accountId")
		case "userName":
			ok = p.stringInto(&si.UserName, errs, prefix, "userIdentity.sessionContext.sessionIssuer.userName")
		default:
			ok = p.skip()
		}
		if !ok {
			return false
		}
	}
}

func (p *parser) webID(w *wire, sc *SessionContext, errs *error, prefix string) bool {
	if p.buf[p.i] == 'n' {
		sc.WebIDFederationData = nil
		return p.literal("null")
	}
	isObj, ok := p.object(errs, typObject, prefix, "userIdentity.sessionContext.webIdFederationData")
	if !isObj {
		return ok
	}
	if sc.WebIDFederationData == nil {
		b := w.boxed()
		b.web = WebIDFederationData{}
		sc.WebIDFederationData = &b.web
	}
	wd := sc.WebIDFederationData
	for first := true; ; first = false {
		k, ok := p.nextKey(first)
		if !ok {
			return p.ended()
		}
		if canonicalFast(k, webIDNames) == "federatedProvider" {
			ok = p.stringInto(&wd.FederatedProvider, errs, prefix, "userIdentity.sessionContext.webIdFederationData.federatedProvider")
		} else {
			ok = p.skip()
		}
		if !ok {
			return false
		}
	}
}

func (p *parser) tlsDetails(w *wire, errs *error, prefix string) bool {
	r := &w.Record
	if p.buf[p.i] == 'n' {
		r.TLSDetails = nil
		return p.literal("null")
	}
	isObj, ok := p.object(errs, typObject, prefix, "tlsDetails")
	if !isObj {
		return ok
	}
	if r.TLSDetails == nil {
		b := w.boxed()
		b.tls = TLSDetails{}
		r.TLSDetails = &b.tls
	}
	td := r.TLSDetails
	for first := true; ; first = false {
		k, ok := p.nextKey(first)
		if !ok {
			return p.ended()
		}
		switch canonicalFast(k, tlsNames) {
		case "tlsVersion":
			ok = p.stringInto(&td.TLSVersion, errs, prefix, "tlsDetails.tlsVersion")
		case "cipherSuite":
			ok = p.stringInto(&td.CipherSuite, errs, prefix, "tlsDetails.cipherSuite")
		case "clientProvidedHostHeader":
			ok = p.stringInto(&td.ClientProvidedHostHeader, errs, prefix, "tlsDetails.clientProvidedHostHeader")
		default:
			ok = p.skip()
		}
		if !ok {
			return false
		}
	}
}

// resourceObject decodes one Resource object (p.buf[p.i] is '{').
func (p *parser) resourceObject(r *Resource, errs *error, prefix string) bool {
	if !p.open() {
		return false
	}
	for first := true; ; first = false {
		k, ok := p.nextKey(first)
		if !ok {
			return p.ended()
		}
		switch canonicalFast(k, resourceNames) {
		case "ARN":
			ok = p.stringInto(&r.ARN, errs, prefix, "resources.ARN")
		case "accountId":
			ok = p.stringInto(&r.AccountID, errs, prefix, "resources.accountId")
		case "type":
			ok = p.stringInto(&r.Type, errs, prefix, "resources.type")
		default:
			ok = p.skip()
		}
		if !ok {
			return false
		}
	}
}

// resources decodes a record's resources: a list of objects (null clears
// it, null members are zero).
func (p *parser) resources(dst *[]Resource, errs *error, prefix string) bool {
	switch c := p.buf[p.i]; c {
	case 'n':
		*dst = nil
		return p.literal("null")
	case '[':
	default:
		return p.soft(errs, c, typArray, prefix, "resources")
	}
	list := (*dst)[:0]
	if list == nil {
		list = []Resource{}
	}
	if !p.openArray() {
		return false
	}
	for first := true; ; first = false {
		if !p.nextElem(first) {
			*dst = list
			return p.ended()
		}
		list = append(list, Resource{})
		var ok bool
		switch c := p.buf[p.i]; c {
		case '{':
			ok = p.resourceObject(&list[len(list)-1], errs, prefix)
		case 'n':
			ok = p.literal("null")
		default:
			ok = p.soft(errs, c, typResources, prefix, "resources")
		}
		if !ok {
			return false
		}
	}
}

// flexResources decodes an envelope's or a top-level record's resources: a
// list of Resource objects, or of ARN strings (EventBridge envelopes).
func (p *parser) flexResources(dst *[]Resource, errs *error) bool {
	start := p.i
	if p.buf[p.i] == 'n' {
		*dst = nil
		return p.literal("null")
	}
	var (
		list       []Resource
		listErr    error
		strs, objs bool
		other      bool
	)
	if p.buf[p.i] != '[' {
		other = true
		if !p.skip() {
			return false
		}
	} else {
		list = []Resource{}
		if !p.openArray() {
			return false
		}
		for first := true; ; first = false {
			if !p.nextElem(first) {
				if !p.ended() {
					return false
				}
				break
			}
			list = append(list, Resource{})
			ok := true
			switch p.buf[p.i] {
			case '{':
				objs = true
				ok = p.resourceObject(&list[len(list)-1], &listErr, "")
			case '"':
				strs = true
				raw, esc, high, sok := p.str()
				list[len(list)-1].ARN = text(raw, esc, high)
				ok = sok
			case 'n':
				ok = p.literal("null")
			default:
				other = true
				ok = p.skip()
			}
			if !ok {
				return false
			}
		}
	}
	switch {
	case !other && !strs && listErr == nil, !other && !objs:
		*dst = list
	default:
		*dst = nil
		if *errs == nil {
			*errs = fmt.Errorf("resources: want a list of objects or ARN strings, got %s", clip(p.buf[start:p.i], 40))
		}
	}
	return true
}

// openArray consumes the '[' at p.i.
func (p *parser) openArray() bool { return p.open() }

// nextElem moves to the next element of the array openArray began. At the
// end it consumes the ']' and reports false with p.err nil; on a syntax
// error it reports false with p.err set.
func (p *parser) nextElem(first bool) bool {
	c, ok := p.next()
	if !ok {
		return false
	}
	if first {
		if c == ']' {
			p.i++
			p.depth--
			return false
		}
		return true
	}
	switch c {
	case ',':
		p.i++
		_, ok = p.next()
		return ok
	case ']':
		p.i++
		p.depth--
		return false
	}
	return p.bad("after array element")
}

// clip returns at most n bytes of b for an error message.
func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
