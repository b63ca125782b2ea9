-- The schema main made on sqlite just before Alembic (commit 8bada96): the DDL that
-- SqlStore.create_schema, Storage.create_schema and TelegramStore.create_schema
-- (create_all of the three metadatas) sent to a fresh database, captured from
-- the engine. Frozen: tests/migrations upgrades databases made from it.

CREATE TABLE customers (
	id INTEGER NOT NULL, 
	email VARCHAR(254) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	phone VARCHAR(40) NOT NULL, 
	phone_digits VARCHAR(20) NOT NULL, 
	country VARCHAR(60) NOT NULL, 
	city VARCHAR(100) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_customers_phone_digits ON customers (phone_digits);

CREATE UNIQUE INDEX ix_customers_email ON customers (email);

CREATE TABLE orders (
	order_id VARCHAR(6) NOT NULL, 
	customer_id INTEGER NOT NULL, 
	status VARCHAR(30) NOT NULL, 
	placed_at DATETIME NOT NULL, 
	expected_delivery DATE NOT NULL, 
	total NUMERIC(10, 2) NOT NULL, 
	payment_method VARCHAR(60) NOT NULL, 
	ship_street VARCHAR(200) NOT NULL, 
	ship_postal_code VARCHAR(20) NOT NULL, 
	ship_city VARCHAR(100) NOT NULL, 
	ship_province VARCHAR(100) NOT NULL, 
	ship_country VARCHAR(60) NOT NULL, 
	invoice_number VARCHAR(30), 
	PRIMARY KEY (order_id), 
	FOREIGN KEY(customer_id) REFERENCES customers (id)
);

CREATE INDEX ix_orders_customer_id ON orders (customer_id);

CREATE INDEX ix_orders_status ON orders (status);

CREATE TABLE order_items (
	id INTEGER NOT NULL, 
	order_id VARCHAR(6) NOT NULL, 
	sku VARCHAR(40) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	quantity INTEGER NOT NULL, 
	unit_price NUMERIC(10, 2) NOT NULL, 
	final_sale BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(order_id) REFERENCES orders (order_id)
);

CREATE INDEX ix_order_items_order_id ON order_items (order_id);

CREATE TABLE shipments (
	order_id VARCHAR(6) NOT NULL, 
	carrier VARCHAR(30) NOT NULL, 
	tracking_number VARCHAR(40) NOT NULL, 
	shipped_at DATETIME NOT NULL, 
	delivered_at DATETIME, 
	PRIMARY KEY (order_id), 
	FOREIGN KEY(order_id) REFERENCES orders (order_id)
);

CREATE INDEX ix_shipments_tracking_number ON shipments (tracking_number);

CREATE TABLE returns (
	id INTEGER NOT NULL, 
	return_number VARCHAR(10) NOT NULL, 
	order_id VARCHAR(6) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	reason TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(order_id) REFERENCES orders (order_id)
);

CREATE INDEX ix_returns_order_id ON returns (order_id);

CREATE UNIQUE INDEX ix_returns_return_number ON returns (return_number);

CREATE TABLE return_items (
	return_id INTEGER NOT NULL, 
	order_item_id INTEGER NOT NULL, 
	PRIMARY KEY (return_id, order_item_id), 
	FOREIGN KEY(return_id) REFERENCES returns (id), 
	FOREIGN KEY(order_item_id) REFERENCES order_items (id)
);

CREATE TABLE return_exchanges (
	return_id INTEGER NOT NULL, 
	wanted_variant VARCHAR(100) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (return_id), 
	FOREIGN KEY(return_id) REFERENCES returns (id)
);

CREATE TABLE refunds (
	id INTEGER NOT NULL, 
	order_id VARCHAR(6) NOT NULL, 
	return_id INTEGER, 
	amount NUMERIC(10, 2) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expected_at DATE NOT NULL, 
	completed_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(order_id) REFERENCES orders (order_id), 
	FOREIGN KEY(return_id) REFERENCES returns (id)
);

CREATE INDEX ix_refunds_order_id ON refunds (order_id);

CREATE TABLE handoff_agents (
	id VARCHAR(32) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	token_salt BLOB NOT NULL, 
	token_hash BLOB NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE handoff_conversations (
	id VARCHAR(40) NOT NULL, 
	session_id VARCHAR(64) NOT NULL, 
	channel VARCHAR(20) NOT NULL, 
	state VARCHAR(10) NOT NULL, 
	agent_id VARCHAR(32), 
	reason VARCHAR(64), 
	context TEXT, 
	queued_at DATETIME, 
	queue_rank FLOAT, 
	offline BOOLEAN NOT NULL, 
	contact_email VARCHAR(254), 
	preview TEXT, 
	episode_id INTEGER, 
	csat_episode_id INTEGER, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (session_id), 
	FOREIGN KEY(agent_id) REFERENCES handoff_agents (id)
);

CREATE INDEX ix_handoff_conversations_state ON handoff_conversations (state);

CREATE INDEX ix_handoff_conversations_agent_id ON handoff_conversations (agent_id);

CREATE TABLE handoff_messages (
	id INTEGER NOT NULL, 
	conversation_id VARCHAR(40) NOT NULL, 
	sender VARCHAR(10) NOT NULL, 
	text TEXT NOT NULL, 
	data TEXT, 
	agent_id VARCHAR(32), 
	client_id VARCHAR(64), 
	created_at DATETIME NOT NULL, 
	delivered_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_handoff_messages_client_id UNIQUE (conversation_id, client_id), 
	FOREIGN KEY(conversation_id) REFERENCES handoff_conversations (id)
);

CREATE INDEX ix_handoff_messages_conversation_id ON handoff_messages (conversation_id);

CREATE TABLE handoff_episodes (
	id INTEGER NOT NULL, 
	conversation_id VARCHAR(40) NOT NULL, 
	reason VARCHAR(64) NOT NULL, 
	offline BOOLEAN NOT NULL, 
	queued_at DATETIME NOT NULL, 
	assigned_at DATETIME, 
	first_reply_at DATETIME, 
	closed_at DATETIME, 
	agent_id VARCHAR(32), 
	resolution VARCHAR(20), 
	outcome VARCHAR(20), 
	ended_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(conversation_id) REFERENCES handoff_conversations (id)
);

CREATE INDEX ix_handoff_episodes_conversation_id ON handoff_episodes (conversation_id);

CREATE INDEX ix_handoff_episodes_closed_at ON handoff_episodes (closed_at);

CREATE TABLE handoff_attachments (
	id VARCHAR(40) NOT NULL, 
	conversation_id VARCHAR(40) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	content_type VARCHAR(100) NOT NULL, 
	size INTEGER NOT NULL, 
	data BLOB NOT NULL, 
	source_key VARCHAR(100), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_handoff_attachments_source UNIQUE (conversation_id, source_key), 
	FOREIGN KEY(conversation_id) REFERENCES handoff_conversations (id)
);

CREATE INDEX ix_handoff_attachments_conversation_id ON handoff_attachments (conversation_id);

CREATE TABLE handoff_profiles (
	conversation_id VARCHAR(40) NOT NULL, 
	display_name VARCHAR(100), 
	verified_customer TEXT, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (conversation_id), 
	FOREIGN KEY(conversation_id) REFERENCES handoff_conversations (id)
);

CREATE TABLE handoff_turns (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	conversation_id VARCHAR(40) NOT NULL, 
	kind VARCHAR(10) NOT NULL, 
	message_id INTEGER, 
	created_at DATETIME NOT NULL, 
	FOREIGN KEY(conversation_id) REFERENCES handoff_conversations (id), 
	UNIQUE (message_id)
);

CREATE INDEX ix_handoff_turns_conversation_id ON handoff_turns (conversation_id);

CREATE TABLE handoff_csat (
	id INTEGER NOT NULL, 
	conversation_id VARCHAR(40) NOT NULL, 
	episode_id INTEGER NOT NULL, 
	agent_id VARCHAR(32), 
	reason VARCHAR(64) NOT NULL, 
	score INTEGER NOT NULL, 
	comment TEXT, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(conversation_id) REFERENCES handoff_conversations (id), 
	UNIQUE (episode_id), 
	FOREIGN KEY(episode_id) REFERENCES handoff_episodes (id)
);

CREATE TABLE handoff_telegram_chats (
	chat_id BIGINT NOT NULL, 
	conversation_id VARCHAR(40), 
	kind VARCHAR(16) NOT NULL, 
	announced_state VARCHAR(10), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (chat_id), 
	UNIQUE (conversation_id)
);

CREATE TABLE handoff_telegram_updates (
	update_id BIGINT NOT NULL, 
	processed_at DATETIME NOT NULL, 
	PRIMARY KEY (update_id)
);

CREATE INDEX ix_handoff_telegram_updates_processed_at ON handoff_telegram_updates (processed_at);

CREATE TABLE handoff_telegram_outbox (
	id INTEGER NOT NULL, 
	chat_id BIGINT NOT NULL, 
	conversation_id VARCHAR(40), 
	source_key VARCHAR(64), 
	body TEXT NOT NULL, 
	status VARCHAR(10) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	last_error VARCHAR(120), 
	telegram_message_id BIGINT, 
	created_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (source_key)
);

CREATE INDEX ix_handoff_telegram_outbox_chat_id ON handoff_telegram_outbox (chat_id);

CREATE INDEX ix_handoff_telegram_outbox_status ON handoff_telegram_outbox (status);

CREATE TABLE handoff_telegram_buttons (
	id VARCHAR(16) NOT NULL, 
	conversation_id VARCHAR(40) NOT NULL, 
	title TEXT NOT NULL, 
	payload TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	message_id VARCHAR(20), 
	PRIMARY KEY (id)
);

CREATE INDEX ix_handoff_telegram_buttons_conversation_id ON handoff_telegram_buttons (conversation_id);

