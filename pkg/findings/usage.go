package findings

// Detail keys of the usage-limit findings (limit-warning, limit-exceeded).
// The usage function writes them; the remediator reads DetailLimit and
// DetailPeriodStart to find the limit and period a block is for, and
// takes everything else about the block from its own policy.
const (
	DetailLimit       = "limit"       // the limit's name in the policy
	DetailPeriod      = "period"      // day, week or month
	DetailPeriodStart = "periodStart" // RFC 3339, UTC
	DetailPeriodEnd   = "periodEnd"   // RFC 3339, UTC: when a block lifts
)
