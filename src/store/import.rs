//! CSV import (placeholder)
