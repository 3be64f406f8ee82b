package sender

import "time"

// DefaultAsyncTimeout is how long a WAITING delivery waits for its action-status callback when its webhook sets
// no async_timeout (the API stores it as the webhook's default, the sender applies it to webhooks without one).
const DefaultAsyncTimeout = 24 * time.Hour
