package main

import (
	"slices"
	"testing"

	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// S3 calls the functions' code makes beyond a plain get or put. Nothing local checks IAM
// (the local stack and the replay ignore permissions), so a missing one only shows in
// production.
func TestFunctionsMayMakeTheirS3Calls(t *testing.T) {
	for _, c := range []struct {
		function, action, bucket string
		objects                  bool // on <bucket>/*, else on the bucket
		why                      string
	}{
		{routes.FunctionPrivacy, "s3:ListBucket", schema.BucketPrivacy, false,
			"the package route reads a byte of each file (packageBucket.Exists): without it S3 answers a deleted package 403, not 404, and the route 500 instead of 410"},
		{"export", "s3:AbortMultipartUpload", schema.BucketExports, true,
			"a failed export aborts its multipart upload (blob.Upload.Abort)"},
		{functionPrivacyWorker, "s3:AbortMultipartUpload", schema.BucketPrivacy, true,
			"a failed access package aborts its multipart uploads (blob.Upload.Abort), which hold personal data"},
	} {
		bucket := logicalID(t, pascal(c.bucket)+"Bucket")
		found := false
		for _, s := range statementsOf(t, c.function) {
			if dig(s, "Effect") != "Allow" || dig(s, "Condition") != nil || !slices.Contains(list(dig(s, "Action")), any(c.action)) {
				continue
			}
			for _, res := range list(dig(s, "Resource")) {
				onObjects := dig(res, "Fn::GetAtt") == nil // <bucket>/* is a Fn::Join
				if slices.Equal(refs(res), []string{bucket}) && onObjects == c.objects {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s may not %s on the %s bucket: %s", c.function, c.action, c.bucket, c.why)
		}
	}
}
