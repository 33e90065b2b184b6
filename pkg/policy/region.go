package policy

// ValidRegion reports whether s has the syntax of an AWS Region name
// ("us-east-1", "us-gov-west-1", "ap-southeast-5"): two letters, an
// optional gov/iso part, a direction word and a number. "us-esat-1" is
// not one. The CLI checks Region flags with it before any AWS call.
func ValidRegion(s string) bool { return validRegion(s) }
