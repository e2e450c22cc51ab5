package daemon

import (
	"io"
	"log/slog"
)

// levelQuiet is above every level slog writes, so log_level 0 logs nothing.
const levelQuiet = slog.Level(1 << 10)

// SlogLevel maps log_level (0 quiet … 4 debug) to a slog level.
func SlogLevel(logLevel int) slog.Level {
	switch {
	case logLevel <= 0:
		return levelQuiet
	case logLevel == 1:
		return slog.LevelError
	case logLevel == 2:
		return slog.LevelWarn
	case logLevel == 3:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// Logger is the server's logger as configured by the log_* keys. Its level
// can change while it runs (see Options.LogLevel); its format and file
// cannot.
type Logger struct {
	*slog.Logger
	Level  *slog.LevelVar
	closer io.Closer
}

// NewLogger returns the logger that cfg asks for: text or JSON, to stderr
// or to log_file rotated at log_max_size. Close it to close the
// file.
func NewLogger(cfg Config, stderr io.Writer) *Logger {
	lv := new(slog.LevelVar)
	lv.Set(SlogLevel(cfg.LogLevel))
	l := &Logger{Level: lv}
	out := stderr
	if cfg.LogFile != "" {
		w := newSizeRotator(cfg.LogFile, cfg.LogMaxSize, cfg.LogMaxBackups)
		out, l.closer = w, w
	}
	opts := &slog.HandlerOptions{Level: lv}
	if cfg.LogFormat == "json" {
		l.Logger = slog.New(slog.NewJSONHandler(out, opts))
	} else {
		l.Logger = slog.New(slog.NewTextHandler(out, opts))
	}
	return l
}

// Close closes the log file, if any.
func (l *Logger) Close() error {
	if l.closer == nil {
		return nil
	}
	return l.closer.Close()
}
