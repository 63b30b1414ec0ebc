package dataset

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
)

// vocJPEGQuality is the JPEG quality of the images WriteVOC writes.
const vocJPEGQuality = 95

// WriteVOC writes every sample of ds as a Pascal VOC folder under dir:
// JPEGImages/<id>.jpg, Annotations/<id>.xml, ImageSets/Main/<split>.txt listing the ids in
// dataset order, and labels.txt with the class names after BACKGROUND, comma-separated (the
// reference's labels.txt layout). The "voc" dataset reads the folder back with the same ids,
// classes and boxes (boxes are written 1-based, the VOC convention, so that the reader's
// subtraction of 1 restores them; values must be float32-representable, as pixel indices
// are); images come back as JPEG-compressed copies.
//
// Each file is written to a temporary name and renamed into place, so an interrupted run
// leaves only complete files; the split file is written last. Existing files of the same
// names are replaced. <truncated> is 1 for boxes that touch the image border.
func WriteVOC(ds Dataset, dir string, split string) error {
	if split == "" || strings.ContainsAny(split, `/\`) || split == "." || split == ".." {
		return fmt.Errorf("write voc: split %q must be a plain file name", split)
	}
	names := ds.ClassNames()
	if len(names) < 2 || names[0] != "BACKGROUND" {
		return fmt.Errorf("write voc: class names must be BACKGROUND followed by at least one class, got %v", names)
	}
	for _, n := range names[1:] {
		if n == "" || strings.ContainsAny(n, ", \t\r\n") {
			return fmt.Errorf("write voc: class name %q cannot be stored in labels.txt", n)
		}
	}
	for _, sub := range []string{"Annotations", "JPEGImages", filepath.Join("ImageSets", "Main")} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("write voc: %w", err)
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, "labels.txt"), []byte(strings.Join(names[1:], ",")+"\n")); err != nil {
		return err
	}

	n := ds.Len()
	ids := make([]string, n)
	errs := make([]error, n)
	var failed atomic.Bool
	var wg sync.WaitGroup
	next := make(chan int)
	for w := min(runtime.GOMAXPROCS(0), max(n, 1)); w > 0; w-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if failed.Load() {
					continue
				}
				ids[i], errs[i] = writeVOCSample(ds, i, dir, names)
				if errs[i] != nil {
					failed.Store(true)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	seen := make(map[string]int, n)
	for i, id := range ids {
		if j, dup := seen[id]; dup {
			return fmt.Errorf("write voc: samples %d and %d have the same id %q", j, i, id)
		}
		seen[id] = i
	}
	list := strings.Join(ids, "\n")
	if n > 0 {
		list += "\n"
	}
	return writeFileAtomic(filepath.Join(dir, "ImageSets", "Main", split+".txt"), []byte(list))
}

type vocOutAnnotation struct {
	XMLName  xml.Name       `xml:"annotation"`
	Folder   string         `xml:"folder"`
	Filename string         `xml:"filename"`
	Size     vocOutSize     `xml:"size"`
	Objects  []vocOutObject `xml:"object"`
}

type vocOutSize struct {
	Width  int `xml:"width"`
	Height int `xml:"height"`
	Depth  int `xml:"depth"`
}

type vocOutObject struct {
	Name      string    `xml:"name"`
	Pose      string    `xml:"pose"`
	Truncated int       `xml:"truncated"`
	Difficult int       `xml:"difficult"`
	BndBox    vocOutBox `xml:"bndbox"`
}

type vocOutBox struct {
	XMin string `xml:"xmin"`
	YMin string `xml:"ymin"`
	XMax string `xml:"xmax"`
	YMax string `xml:"ymax"`
}

// writeVOCSample writes the image and annotation of sample i and returns its id.
func writeVOCSample(ds Dataset, i int, dir string, names []string) (string, error) {
	s, err := ds.Sample(i)
	if err != nil {
		return "", fmt.Errorf("write voc: sample %d: %w", i, err)
	}
	if s.ID == "" || s.ID == "." || s.ID == ".." || strings.ContainsAny(s.ID, "/\\\n\r") {
		return "", fmt.Errorf("write voc: sample %d: id %q cannot be a file name", i, s.ID)
	}
	b := s.Image.Bounds()
	ann := vocOutAnnotation{Folder: filepath.Base(dir), Filename: s.ID + ".jpg",
		Size: vocOutSize{Width: b.Dx(), Height: b.Dy(), Depth: 3}}
	for k, o := range s.Objects {
		if o.Label <= 0 || o.Label >= len(names) {
			return "", fmt.Errorf("write voc: sample %d (%s): object[%d]: label %d is not a class of %v", i, s.ID, k, o.Label, names)
		}
		truncated := 0
		if o.Box[0] <= 0 || o.Box[1] <= 0 || o.Box[2] >= float64(b.Dx()-1) || o.Box[3] >= float64(b.Dy()-1) {
			truncated = 1
		}
		difficult := 0
		if o.Difficult {
			difficult = 1
		}
		ann.Objects = append(ann.Objects, vocOutObject{Name: names[o.Label], Pose: "Unspecified",
			Truncated: truncated, Difficult: difficult, BndBox: vocOutBox{
				XMin: vocCoord(o.Box[0]), YMin: vocCoord(o.Box[1]), XMax: vocCoord(o.Box[2]), YMax: vocCoord(o.Box[3])}})
	}
	var img bytes.Buffer
	if err := jpeg.Encode(&img, s.Image, &jpeg.Options{Quality: vocJPEGQuality}); err != nil {
		return "", fmt.Errorf("write voc: sample %d (%s): %w", i, s.ID, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "JPEGImages", s.ID+".jpg"), img.Bytes()); err != nil {
		return "", err
	}
	x, err := xml.MarshalIndent(ann, "", "\t")
	if err != nil {
		return "", fmt.Errorf("write voc: sample %d (%s): %w", i, s.ID, err)
	}
	x = append(x, '\n')
	if err := writeFileAtomic(filepath.Join(dir, "Annotations", s.ID+".xml"), x); err != nil {
		return "", err
	}
	return s.ID, nil
}

// vocCoord formats a 0-based coordinate as VOC's 1-based one, exactly.
func vocCoord(v float64) string { return strconv.FormatFloat(v+1, 'f', -1, 64) }

// writeFileAtomic writes data to path (mode 0644) with fsutil.WriteBytesAtomic: never a half
// written file, even when the export is interrupted.
func writeFileAtomic(path string, data []byte) error {
	if err := fsutil.WriteBytesAtomic(path, 0o644, data); err != nil {
		return fmt.Errorf("write voc: %w", err)
	}
	return nil
}
