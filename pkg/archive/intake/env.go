package intake

import (
	"fmt"
	"strconv"
	"strings"
)

// Environment of the S3 intake function (template.yaml sets them from the
// TrailBucketName and TrailPrefix parameters).
const (
	// EnvBucket is the trail bucket's name.
	EnvBucket = "WARDEN_TRAIL_BUCKET"
	// EnvPrefix is the trail's S3 key prefix, as CloudTrail's S3KeyPrefix
	// ("" for none; a trailing slash is optional).
	EnvPrefix = "WARDEN_TRAIL_PREFIX"
	// EnvMaxObjectBytes overrides DefaultMaxObjectBytes.
	EnvMaxObjectBytes = "WARDEN_TRAIL_MAX_OBJECT_BYTES"
)

// Config is the intake's configuration.
type Config struct {
	Trail          Trail
	MaxObjectBytes int64
}

// ConfigFromEnv reads the intake's environment.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{Trail: Trail{Bucket: strings.TrimSpace(getenv(EnvBucket))}, MaxObjectBytes: DefaultMaxObjectBytes}
	if c.Trail.Bucket == "" {
		return Config{}, fmt.Errorf("%s is not set: the S3 intake needs the trail bucket's name", EnvBucket)
	}
	if p := strings.Trim(strings.TrimSpace(getenv(EnvPrefix)), "/"); p != "" {
		c.Trail.Root = p + "/"
	}
	if v := strings.TrimSpace(getenv(EnvMaxObjectBytes)); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1<<20 {
			return Config{}, fmt.Errorf("%s %q: want a number of bytes, at least 1048576", EnvMaxObjectBytes, v)
		}
		c.MaxObjectBytes = n
	}
	return c, nil
}
