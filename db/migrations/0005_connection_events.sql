CREATE TABLE `connection_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`tenant_id` integer,
	`tenant_slug` text,
	`identity` text,
	`remote_address` text NOT NULL,
	`kind` text NOT NULL,
	`status` integer,
	`code` text,
	`reason` text,
	`subprotocol` text,
	`closed_by` text,
	`duration_ms` integer,
	`hint` text,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `connection_events_at` ON `connection_events` (`at`);--> statement-breakpoint
CREATE INDEX `connection_events_tenant` ON `connection_events` (`tenant_id`,`identity`,`id`);--> statement-breakpoint
CREATE INDEX `connection_events_kind` ON `connection_events` (`kind`,`id`);