package storesql

// SkipBooks turns the books (webhook statistics, health, operational events) off or on: benchmarks measure
// their cost.
func (s *Store) SkipBooks(skip bool) { s.noBooks = skip }
