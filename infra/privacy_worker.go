package main

// functionPrivacyWorker is the privacy queue's consumer (schema.QueuePrivacy): it carries
// approved data-subject requests out (functions/privacyworker).
const functionPrivacyWorker = "privacyworker"
