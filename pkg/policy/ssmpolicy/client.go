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
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
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

// Parameter returns the decrypted value of parameter name.
func (c *Client) Parameter(ctx context.Context, name string) (string, error) {
	body, err := json.Marshal(struct {
		Name           string
		WithDecryption bool
	}{name, true})
	if err != nil {
		return "", err
	}
	var lastErr error
	for i := range attempts {
		if i > 0 {
			t := time.NewTimer(time.Duration(1<<i) * 50 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return "", ctx.Err()
			case <-t.C:
			}
		}
		v, retry, err := c.get(ctx, body)
		if err == nil {
			return v, nil
		}
		lastErr = err
		if !retry {
			break
		}
	}
	return "", fmt.Errorf("ssm GetParameter %s: %w", name, lastErr)
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

func (c *Client) get(ctx context.Context, body []byte) (value string, retry bool, err error) {
	if c.cfg.Credentials == nil {
		return "", false, errors.New("no AWS credentials")
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", false, fmt.Errorf("credentials: %w", err)
	}
	endpoint := "https://ssm." + c.cfg.Region + ".amazonaws.com/"
	if c.cfg.BaseEndpoint != nil && *c.cfg.BaseEndpoint != "" {
		endpoint = strings.TrimSuffix(*c.cfg.BaseEndpoint, "/") + "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetParameter")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ssm", c.cfg.Region, c.now()); err != nil {
		return "", false, fmt.Errorf("sign: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", true, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", true, err
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
		return "", retry, &apiError{Code: code, Message: e.Message, Status: resp.StatusCode}
	}
	var out struct {
		Parameter *struct {
			Value *string
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", false, fmt.Errorf("response: %w", err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", false, errors.New("the parameter has no value")
	}
	return *out.Parameter.Value, false, nil
}
