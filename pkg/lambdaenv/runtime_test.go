package lambdaenv

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// fakeRuntime is the Lambda Runtime API serving a list of events, then
// holding the next request until the test ends.
type fakeRuntime struct {
	mu      sync.Mutex
	events  [][]byte
	posts   []post
	done    chan struct{}
	chunked bool // send events without Content-Length
}

type post struct {
	path, errType string
	body          []byte
}

func (f *fakeRuntime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next":
		f.mu.Lock()
		if len(f.events) == 0 {
			f.mu.Unlock()
			close(f.done)
			<-r.Context().Done()
			return
		}
		ev := f.events[0]
		f.events = f.events[1:]
		id := strconv.Itoa(len(f.posts) + 1)
		f.mu.Unlock()
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-"+id)
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111122223333:function:d")
		if f.chunked {
			w.(http.Flusher).Flush() // no Content-Length
		}
		w.Write(ev)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/2018-06-01/runtime/invocation/"):
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.posts = append(f.posts, post{strings.TrimPrefix(r.URL.Path, "/2018-06-01/runtime/invocation/"), r.Header.Get("Lambda-Runtime-Function-Error-Type"), b})
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

type handlerFunc func(ctx context.Context, p []byte) ([]byte, error)

func (f handlerFunc) Invoke(ctx context.Context, p []byte) ([]byte, error) { return f(ctx, p) }

// streamFunc is a ReaderHandler; Serve must use InvokeReader.
type streamFunc struct {
	t  *testing.T
	fn handlerFunc
}

func (s streamFunc) Invoke(context.Context, []byte) ([]byte, error) {
	s.t.Error("Serve called Invoke on a ReaderHandler")
	return nil, errors.New("Invoke")
}

func (s streamFunc) InvokeReader(ctx context.Context, r io.Reader) ([]byte, error) {
	p, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return s.fn(ctx, p)
}

func TestServe(t *testing.T) {
	for _, c := range []struct{ chunked, stream bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		chunked := c.chunked
		big := []byte(`{"a":"` + strings.Repeat("x", 3<<20) + `"}`)
		rt := &fakeRuntime{events: [][]byte{[]byte(`{"n":1}`), []byte("not json"), big}, done: make(chan struct{}), chunked: chunked}
		srv := httptest.NewServer(rt)
		t.Setenv("AWS_LAMBDA_RUNTIME_API", strings.TrimPrefix(srv.URL, "http://"))
		var seen []string
		h := handlerFunc(func(ctx context.Context, p []byte) ([]byte, error) {
			lc, ok := lambdacontext.FromContext(ctx)
			if _, hasDeadline := ctx.Deadline(); !ok || !hasDeadline || lc.InvokedFunctionArn == "" {
				t.Errorf("context without deadline or lambda context")
			}
			seen = append(seen, lc.AwsRequestID)
			if !json.Valid(p) {
				return nil, errors.New("record rejected")
			}
			return []byte(strconv.Itoa(len(p))), nil
		})
		var served lambda.Handler = h
		if c.stream {
			served = streamFunc{t, h}
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- Serve(ctx, served) }()
		select {
		case <-rt.done:
		case err := <-errc:
			t.Fatalf("Serve ended: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("timeout")
		}
		cancel()
		<-errc
		srv.Close()
		if len(rt.posts) != 3 || rt.posts[0].path != "req-1/response" || string(rt.posts[0].body) != "7" {
			t.Fatalf("%+v: posts %+v", c, rt.posts)
		}
		if p := rt.posts[1]; p.path != "req-2/error" || p.errType != "Runtime.HandlerError" || !strings.Contains(string(p.body), `"errorMessage":"record rejected"`) {
			t.Errorf("error post %+v", p)
		}
		if p := rt.posts[2]; p.path != "req-3/response" || string(p.body) != strconv.Itoa(len(big)) {
			t.Errorf("big payload: %s %.40s", p.path, p.body)
		}
		if strings.Join(seen, ",") != "req-1,req-2,req-3" {
			t.Errorf("request ids %v", seen)
		}
	}
}

// A panic is reported with its stack and ends the loop.
func TestServePanics(t *testing.T) {
	boom := handlerFunc(func(context.Context, []byte) ([]byte, error) { panic("boom") })
	for _, h := range []lambda.Handler{boom, streamFunc{t, boom}} {
		rt := &fakeRuntime{events: [][]byte{[]byte(`{}`)}, done: make(chan struct{})}
		srv := httptest.NewServer(rt)
		t.Setenv("AWS_LAMBDA_RUNTIME_API", strings.TrimPrefix(srv.URL, "http://"))
		err := Serve(context.Background(), h)
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("%T: Serve = %v", h, err)
		}
		if len(rt.posts) != 1 || rt.posts[0].errType != "Runtime.Panic" || !strings.Contains(string(rt.posts[0].body), "runtime_test.go") {
			t.Fatalf("%T: posts %+v", h, rt.posts)
		}
	}
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	if err := Serve(context.Background(), nil); err == nil {
		t.Error("Serve without a Runtime API")
	}
}
