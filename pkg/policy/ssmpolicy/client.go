package ssmpolicy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/bedrock-warden/warden/pkg/policy/live"
)

// Client reads a parameter with SSM's GetParameter (awsJson1.1, SigV4)
// on the HTTP client, credentials and region of an aws.Config. It exists
// so that the Lambdas, which make this one call once at cold start, do not
// link the SSM SDK client: its package initialisation alone (the schemas
// of every SSM operation) cost more than a millisecond of each cold start.
type Client struct {
	cfg  aws.Config
	http interface {
		Do(*http.Request) (*http.Response, error)
	}
	now func() time.Time
}

// NewClient returns a Client on cfg (cfg.BaseEndpoint, when set, replaces
// https://ssm.<region>.amazonaws.com).
func NewClient(cfg aws.Config) *Client {
	c := &Client{cfg: cfg, http: http.DefaultClient, now: time.Now}
	if cfg.HTTPClient != nil {
		c.http = cfg.HTTPClient
	}
	return c
}

// attempts is how many times a throttled or failed (5xx) call is made.
const attempts = 4

// Client implements live.Store: the functions' re-reads of the policy
// parameter go through it, without the SSM SDK.
var _ live.Store = (*Client)(nil)

// Parameter returns the decrypted value of parameter name.
func (c *Client) Parameter(ctx context.Context, name string) (string, error) {
	p, err := c.Get(ctx, name)
	if err != nil {
		return "", err
	}
	return p.Value, nil
}

// wireParameter is a parameter in GetParameter and GetParameterHistory
// responses (awsJson1.1: LastModifiedDate is epoch seconds).
type wireParameter struct {
	Name             string
	Value            *string
	Version          int64
	LastModifiedDate float64
	LastModifiedUser string
}

func (w wireParameter) parameter(name string) live.Parameter {
	sec, frac := math.Modf(w.LastModifiedDate)
	p := live.Parameter{Name: name, Version: w.Version, ModifiedBy: w.LastModifiedUser}
	if w.Value != nil {
		p.Value = *w.Value
	}
	if w.LastModifiedDate > 0 {
		p.Modified = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	return p
}

// Get implements live.Store with GetParameter. A missing parameter wraps
// live.ErrNotFound.
func (c *Client) Get(ctx context.Context, name string) (live.Parameter, error) {
	var out struct{ Parameter *wireParameter }
	in := struct {
		Name           string
		WithDecryption bool
	}{name, true}
	if err := c.call(ctx, "GetParameter", name, in, &out); err != nil {
		return live.Parameter{}, err
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return live.Parameter{}, fmt.Errorf("ssm parameter %s has no value", name)
	}
	return out.Parameter.parameter(name), nil
}

// History implements live.Store with GetParameterHistory: every version
// SSM keeps (the last 100), with who wrote each.
func (c *Client) History(ctx context.Context, name string) ([]live.Parameter, error) {
	var all []live.Parameter
	token := ""
	for page := 0; page < 10; page++ {
		in := struct {
			Name           string
			WithDecryption bool
			MaxResults     int
			NextToken      string `json:",omitempty"`
		}{name, true, 50, token}
		var out struct {
			Parameters []wireParameter
			NextToken  string
		}
		if err := c.call(ctx, "GetParameterHistory", name, in, &out); err != nil {
			return nil, err
		}
		for _, p := range out.Parameters {
			all = append(all, p.parameter(name))
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	return all, nil
}

// call makes one SSM operation, retrying throttles and server errors.
func (c *Client) call(ctx context.Context, op, name string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	var lastErr error
	for i := range attempts {
		if i > 0 {
			t := time.NewTimer(time.Duration(1<<i) * 50 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		raw, retry, err := c.post(ctx, op, body)
		if err == nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("ssm %s %s: response: %w", op, name, err)
			}
			return nil
		}
		var api *apiError
		if errors.As(err, &api) && api.Code == "ParameterNotFound" {
			return fmt.Errorf("ssm parameter %s: %w", name, live.ErrNotFound)
		}
		lastErr = err
		if !retry {
			break
		}
	}
	return fmt.Errorf("ssm %s %s: %w", op, name, lastErr)
}

// apiError is an SSM error response.
type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// post signs and sends one awsJson1.1 request and returns the response
// body of a 200, or the error (retry says whether another attempt may
// succeed).
func (c *Client) post(ctx context.Context, op string, body []byte) (raw []byte, retry bool, err error) {
	if c.cfg.Credentials == nil {
		return nil, false, errors.New("no AWS credentials")
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("credentials: %w", err)
	}
	endpoint := "https://ssm." + c.cfg.Region + ".amazonaws.com/"
	if c.cfg.BaseEndpoint != nil && *c.cfg.BaseEndpoint != "" {
		endpoint = strings.TrimSuffix(*c.cfg.BaseEndpoint, "/") + "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM."+op)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ssm", c.cfg.Region, c.now()); err != nil {
		return nil, false, fmt.Errorf("sign: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, true, err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, true, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		code := e.Type
		if i := strings.LastIndexByte(code, '#'); i >= 0 {
			code = code[i+1:]
		}
		if code == "" {
			code = http.StatusText(resp.StatusCode)
		}
		retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || strings.Contains(code, "Throttling")
		return nil, retry, &apiError{Code: code, Message: e.Message, Status: resp.StatusCode}
	}
	return raw, false, nil
}
