CREATE TABLE `badges` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer NOT NULL,
	`driver_id` integer NOT NULL,
	`badge_id` text NOT NULL,
	`match_key` text NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`driver_id`) REFERENCES `drivers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `badges_tenant_key` ON `badges` (`tenant_id`,`match_key`);--> statement-breakpoint
CREATE INDEX `badges_driver` ON `badges` (`driver_id`);--> statement-breakpoint
CREATE TABLE `connector_status` (
	`tenant_id` integer NOT NULL,
	`identity` text NOT NULL,
	`evse_id` integer NOT NULL,
	`connector_id` integer NOT NULL,
	`status` text NOT NULL,
	`error_code` text,
	`at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `identity`, `evse_id`, `connector_id`),
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `drivers` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer NOT NULL,
	`email` text NOT NULL,
	`blocked` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `drivers_tenant_email` ON `drivers` (`tenant_id`,`email`);--> statement-breakpoint
CREATE TABLE `identifications` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer NOT NULL,
	`identity` text NOT NULL,
	`at` integer NOT NULL,
	`action` text NOT NULL,
	`badge_id` text NOT NULL,
	`driver_id` integer,
	`answer` text,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`driver_id`) REFERENCES `drivers`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `identifications_tenant_at` ON `identifications` (`tenant_id`,`at`);--> statement-breakpoint
CREATE TABLE `meter_samples` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer NOT NULL,
	`identity` text NOT NULL,
	`evse_id` integer,
	`connector_id` integer,
	`transaction_ref` integer,
	`at` integer NOT NULL,
	`measurand` text NOT NULL,
	`phase` text,
	`location` text,
	`context` text,
	`unit` text,
	`value` real NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`transaction_ref`) REFERENCES `transactions`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `meter_samples_station_at` ON `meter_samples` (`tenant_id`,`identity`,`at`);--> statement-breakpoint
CREATE INDEX `meter_samples_tx` ON `meter_samples` (`transaction_ref`);--> statement-breakpoint
-- Written by hand: drizzle-kit quotes expression indexes wrongly.
CREATE UNIQUE INDEX `meter_samples_once` ON `meter_samples` (`tenant_id`,`identity`,coalesce(`evse_id`, -1),coalesce(`connector_id`, -1),`at`,`measurand`,coalesce(`phase`, ''),coalesce(`location`, ''));--> statement-breakpoint
CREATE TABLE `station_facts` (
	`tenant_id` integer NOT NULL,
	`identity` text NOT NULL,
	`vendor` text,
	`model` text,
	`serial_number` text,
	`firmware_version` text,
	`booted_at` integer,
	PRIMARY KEY(`tenant_id`, `identity`),
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `transactions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer NOT NULL,
	`identity` text NOT NULL,
	`ocpp_version` text NOT NULL,
	`transaction_id` text NOT NULL,
	`evse_id` integer,
	`connector_id` integer,
	`badge_id` text,
	`driver_id` integer,
	`started_at` integer,
	`stopped_at` integer,
	`meter_start_wh` real,
	`meter_stop_wh` real,
	`energy_wh` real,
	`stop_reason` text,
	`state` text DEFAULT 'active' NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`driver_id`) REFERENCES `drivers`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `transactions_station_tx` ON `transactions` (`tenant_id`,`identity`,`transaction_id`);--> statement-breakpoint
CREATE INDEX `transactions_started` ON `transactions` (`tenant_id`,`started_at`);--> statement-breakpoint
CREATE INDEX `transactions_driver` ON `transactions` (`driver_id`);--> statement-breakpoint
ALTER TABLE `tenants` ADD `ocpp_version` text DEFAULT '1.6' NOT NULL;--> statement-breakpoint
ALTER TABLE `tenants` ADD `authorization_mode` text DEFAULT 'cpms' NOT NULL;