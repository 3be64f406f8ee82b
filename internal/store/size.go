package store

import (
	"reflect"
	"time"
)

// recordOverhead is what RecordBytes adds per record for its fixed-size fields and encoding.
const recordOverhead = 64

var timeType = reflect.TypeFor[time.Time]()

// RecordBytes estimates the size of a record as a List response carries it: the bytes of its strings, byte
// slices (payloads, bodies) and of the ones in its slices, maps and nested structs, plus a fixed overhead. It is
// the measure of Page.MaxBytes: the store measures each record it reads, callers measure the page they got.
func RecordBytes(v any) int {
	return recordOverhead + valueBytes(reflect.ValueOf(v))
}

// PageBytes is the sum of RecordBytes over records.
func PageBytes[T any](records []T) int {
	n := 0
	for i := range records {
		n += RecordBytes(records[i])
	}
	return n
}

func valueBytes(v reflect.Value) int {
	switch v.Kind() {
	case reflect.String:
		return v.Len()
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Len()
		}
		n := 0
		for i := range v.Len() {
			n += valueBytes(v.Index(i))
		}
		return n
	case reflect.Array:
		n := 0
		for i := range v.Len() {
			n += valueBytes(v.Index(i))
		}
		return n
	case reflect.Map:
		n := 0
		for it := v.MapRange(); it.Next(); {
			n += valueBytes(it.Key()) + valueBytes(it.Value())
		}
		return n
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return 0
		}
		return valueBytes(v.Elem())
	case reflect.Struct:
		if v.Type() == timeType {
			return 0
		}
		n := 0
		for i := range v.NumField() {
			n += valueBytes(v.Field(i))
		}
		return n
	default:
		return 0
	}
}
