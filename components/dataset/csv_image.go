package dataset

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ssdrunner/ssdrunner/internal/jpeg"
)

// This file holds what the "csv" and "open_images" readers share about image files: their
// sizes, read lazily from the file headers, and the presence check done when a dataset is
// built.

// imageSizes caches the width and height of each image of a dataset. It is safe for
// concurrent use; errors are not cached (a later call tries the file again).
type imageSizes struct {
	known []atomic.Uint64 // width<<32 | height; 0 while unknown
}

func newImageSizes(n int) *imageSizes { return &imageSizes{known: make([]atomic.Uint64, n)} }

// get returns the size of image i, stored at path, reading only the file's header the first
// time; with exif, the size once turned upright (see decodeImage).
func (s *imageSizes) get(i int, path string, exif bool) (w, h int, err error) {
	if v := s.known[i].Load(); v != 0 {
		return int(v >> 32), int(v & 0xffffffff), nil
	}
	if w, h, err = imageSize(path, exif); err != nil {
		return 0, 0, err
	}
	s.set(i, w, h)
	return w, h, nil
}

// set records the size of image i (known from a decoded image).
func (s *imageSizes) set(i, w, h int) { s.known[i].Store(uint64(w)<<32 | uint64(h)) }

// imageSize reads the header of a JPEG or PNG file and returns the image's size; with
// exif, the size of a JPEG once turned upright as its EXIF orientation says.
func imageSize(path string, exif bool) (int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	orientation := 1
	if exif {
		// The EXIF segment comes first in the file (at most 64 KiB after SOI and APP0).
		br = bufio.NewReaderSize(f, headerPeek)
		head, _ := br.Peek(headerPeek)
		orientation = jpeg.Orientation(head)
	}
	cfg, _, err := image.DecodeConfig(br)
	if err != nil {
		return 0, 0, fmt.Errorf("image %s: cannot decode: %v", path, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return 0, 0, fmt.Errorf("image %s: unsupported size %dx%d", path, cfg.Width, cfg.Height)
	}
	w, h := jpeg.Oriented(cfg.Width, cfg.Height, orientation)
	return w, h, nil
}

// headerPeek is how much of an image file imageSize looks at for its EXIF segment.
const headerPeek = 160 << 10

// statImages checks, on a few goroutines, that every path is a regular file. It returns one
// error (or nil) per path, or ctx's error when ctx is cancelled first.
func statImages(ctx context.Context, paths []string) ([]error, error) {
	errs := make([]error, len(paths))
	err := forEachIndex(ctx, len(paths), func(i int) {
		if st, err := os.Stat(paths[i]); err != nil {
			errs[i] = fmt.Errorf("image: %w", err)
		} else if !st.Mode().IsRegular() {
			errs[i] = fmt.Errorf("image %s is not a regular file", paths[i])
		}
	})
	return errs, err
}

// forEachIndex calls fn(i) for every i in [0, n) on up to 8 goroutines (no more than
// GOMAXPROCS) and returns when all calls have. fn must be safe for concurrent use on
// distinct indexes. When ctx is cancelled it stops handing out indexes, waits for the
// calls in progress and returns ctx's error.
func forEachIndex(ctx context.Context, n int, fn func(i int)) error {
	workers := min(runtime.GOMAXPROCS(0), 8, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	var err error
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	return err
}

// everySampleBad is the error of a dataset built with Env.SkipBad whose samples are all bad
// (the same as the "voc" reader's).
func everySampleBad(problems []Problem) error {
	return fmt.Errorf("every sample is bad (%d problems; the first: %v)", len(problems), problems[0].Err)
}
