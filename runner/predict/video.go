package predict

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/runner/detect"
)

// ErrNoFFmpeg is returned for a video when ffmpeg or ffprobe is not on the PATH.
var ErrNoFFmpeg = errors.New("videos are read and written with ffmpeg, which is not installed (Debian: apt-get install ffmpeg)")

// FFmpeg reports whether ffmpeg and ffprobe are on the PATH.
func FFmpeg() error {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			return ErrNoFFmpeg
		}
	}
	return nil
}

// videoInfo is what ffprobe says about a video's first video stream.
type videoInfo struct {
	width, height int
	rate          string // frame rate as a fraction, e.g. "30000/1001"
}

func probe(ctx context.Context, path string) (videoInfo, error) {
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height,r_frame_rate", "-of", "csv=p=0:s=x", "file:"+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return videoInfo{}, fmt.Errorf("ffprobe: %s", firstLine(stderr.String(), err))
	}
	f := strings.Split(strings.TrimSpace(string(out)), "x")
	if len(f) < 3 {
		return videoInfo{}, fmt.Errorf("no video stream (ffprobe said %q)", strings.TrimSpace(string(out)))
	}
	w, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || w < 1 || h < 1 || w*h > 1<<27 {
		return videoInfo{}, fmt.Errorf("unsupported frame size %sx%s", f[0], f[1])
	}
	rate := f[2]
	if rate == "" || strings.HasPrefix(rate, "0/") {
		rate = "25"
	}
	return videoInfo{width: w, height: h, rate: rate}, nil
}

func firstLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return err.Error()
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// runVideo reads a video's frames as RGB through ffmpeg, detects objects in each (in
// batches) and, unless NoImages, writes the annotated video (H.264 in MP4) to the output
// folder. Each frame is an Image of the summary, with its frame number.
func runVideo(ctx context.Context, det *detect.Detector, in Input, opts Options, sum *Summary) (err error) {
	if err := FFmpeg(); err != nil {
		return err
	}
	info, err := probe(ctx, in.Path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dec := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-nostdin", "-i", "file:"+in.Path, "-map", "0:v:0",
		"-f", "rawvideo", "-pix_fmt", "rgba", "-")
	var decErr bytes.Buffer
	dec.Stderr = &decErr
	stdout, err := dec.StdoutPipe()
	if err != nil {
		return err
	}
	if err := dec.Start(); err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	defer func() {
		cancel()
		dec.Wait()
	}()

	var enc *encoder
	outPath := ""
	if !opts.NoImages {
		outPath = filepath.Join(opts.Out, strings.TrimSuffix(in.Rel, filepath.Ext(in.Rel))+".mp4")
		if enc, err = startEncoder(ctx, outPath, info); err != nil {
			return err
		}
		defer func() {
			if cerr := enc.close(err == nil); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}

	r := bufio.NewReaderSize(stdout, 1<<20)
	frameBytes := 4 * info.width * info.height
	frame := 0
	for {
		batch := make([]image.Image, 0, opts.BatchSize)
		t0 := time.Now()
		for len(batch) < opts.BatchSize {
			img := image.NewRGBA(image.Rect(0, 0, info.width, info.height))
			if _, err := io.ReadFull(r, img.Pix[:frameBytes]); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				if errors.Is(err, io.ErrUnexpectedEOF) {
					break // a truncated last frame: ffmpeg's exit status tells
				}
				return err
			}
			batch = append(batch, img)
		}
		sum.Decode += time.Since(t0)
		if len(batch) == 0 {
			break
		}
		dets, timing, err := det.DetectTimed(ctx, batch...)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fatalError{err}
		}
		sum.Timing.Add(timing)
		t1 := time.Now()
		for i, img := range batch {
			n := frame
			sum.Images = append(sum.Images, Image{Path: in.Path, Frame: &n, Width: info.width, Height: info.height,
				Output: outPath, Detections: dets[i]})
			frame++
			if enc != nil {
				if err := enc.write(detect.Draw(img, dets[i]).Pix); err != nil {
					return err
				}
			}
		}
		sum.Write += time.Since(t1)
		if opts.Progress != nil {
			opts.Progress(len(sum.Images) + len(sum.Failures))
		}
	}
	cancelled := ctx.Err()
	if err := dec.Wait(); err != nil && cancelled == nil {
		return fmt.Errorf("ffmpeg: %s", firstLine(decErr.String(), err))
	}
	if frame == 0 {
		return errors.New("no frame could be read")
	}
	return nil
}

// encoder pipes RGBA frames into ffmpeg, which writes an MP4 to a temporary file that
// close renames over the output (so that an interrupted run leaves no half video).
type encoder struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
	tmp    string
	path   string
}

func startEncoder(ctx context.Context, path string, info videoInfo) (*encoder, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	e := &encoder{path: path, tmp: filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp.mp4")}
	// yuv420p needs even sides: pad by one pixel when odd.
	e.cmd = exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgba",
		"-s", fmt.Sprintf("%dx%d", info.width, info.height), "-r", info.rate, "-i", "-",
		"-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast",
		"-movflags", "+faststart", "-f", "mp4", "file:"+e.tmp)
	e.cmd.Stderr = &e.stderr
	var err error
	if e.stdin, err = e.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	return e, nil
}

func (e *encoder) write(pix []byte) error {
	if _, err := e.stdin.Write(pix); err != nil {
		return fmt.Errorf("ffmpeg (writing %s): %s", e.path, firstLine(e.stderr.String(), err))
	}
	return nil
}

// close finishes the video; keep renames it into place, otherwise it is removed.
func (e *encoder) close(keep bool) error {
	e.stdin.Close()
	err := e.cmd.Wait()
	if !keep || err != nil {
		os.Remove(e.tmp)
		if err != nil && keep {
			return fmt.Errorf("ffmpeg (writing %s): %s", e.path, firstLine(e.stderr.String(), err))
		}
		return nil
	}
	if err := os.Rename(e.tmp, e.path); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(e.path))
}
