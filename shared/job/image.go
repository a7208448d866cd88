package job

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // registers the formats ImageTypes accepts with image.DecodeConfig
	_ "image/jpeg"
	_ "image/png"
)

// CheckImage says why an upload is not acceptable (an ErrNotImage), or nil. head is the
// object's first bytes (at least its header), size its full size; contentType and
// announced are what the customer declared when adding the item. Only the header is
// decoded: enough to know the format and dimensions without holding the pixels in memory.
func CheckImage(head []byte, size int64, contentType string, announced int64) error {
	if size != announced {
		return fmt.Errorf("%w: %d bytes uploaded, %d announced", ErrNotImage, size, announced)
	}
	if size > MaxImageBytes {
		return fmt.Errorf("%w: larger than %d bytes", ErrNotImage, MaxImageBytes)
	}
	want, ok := ImageTypes[contentType]
	if !ok {
		return fmt.Errorf("%w: content type %q is not accepted", ErrNotImage, contentType)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(head))
	if err != nil {
		return fmt.Errorf("%w: not a decodable PNG, JPEG or GIF image", ErrNotImage)
	}
	if format != want {
		return fmt.Errorf("%w: a %s image uploaded as %s", ErrNotImage, format, contentType)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxImageSide || cfg.Height > MaxImageSide {
		return fmt.Errorf("%w: %d×%d pixels (want 1-%d per side)", ErrNotImage, cfg.Width, cfg.Height, MaxImageSide)
	}
	return nil
}
