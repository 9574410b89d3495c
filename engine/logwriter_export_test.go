package engine

// LogWriterPeak is the most bytes w ever held; LogWriterBound is what the
// writer promises never to exceed (its bound, plus the one line that crosses it).
func LogWriterPeak(w *LogWriter) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

const LogWriterBound = logMaxPending + MaxLogLineBytes + logLineOverhead
