"""What the ticket itself supports: order ids, items, option values, the cheaper choice, payment methods."""

from __future__ import annotations

from inhouse.apps.commerce.agent import Evidence

ORDER = {"order_id": "#W7273336", "payment_history": [{"payment_method_id": "paypal_1"}],
         "items": [{"item_id": "1", "name": "Gaming Mouse"}, {"item_id": "2", "name": "Bookshelf"},
                   {"item_id": "3", "name": "T-Shirt"}]}
METHODS = {"paypal_1": {"id": "paypal_1", "source": "paypal"},
           "gift_card_9": {"id": "gift_card_9", "source": "gift_card", "balance": 10.0},
           "credit_card_5": {"id": "credit_card_5", "source": "credit_card", "brand": "visa", "last_four": "4242"}}


def test_order_ids_with_or_without_the_hash():
    assert Evidence("cancel the order (W2307204) now").order_ids == {"#w2307204"}
    assert Evidence("my #W7273336 order and #W1").order_ids == {"#w7273336"}
    assert Evidence("email w1234567x@example.com").order_ids == set()


def test_items_named_by_their_product_noun():
    said = Evidence("The mouse is too loud; the shirts are fine.")
    assert said.names_item(ORDER["items"][0]) and said.names_item(ORDER["items"][2])
    assert not said.names_item(ORDER["items"][1])
    assert said.items(ORDER, ["1", "2"]) == ["1"]
    assert Evidence("return the bookshelf").items(ORDER, ["1"]) == ["2"]  # the named one, not the model's guess
    assert Evidence("return everything in #W7273336").items(ORDER, ["1", "2"]) == ["1", "2"]
    assert Evidence("return it").items(ORDER, ["1"]) == []


def test_option_values_with_units_and_numbers():
    said = Evidence("I want a taller 5-feet glass bookshelf and a 1.5 liters kettle, 80% size.")
    assert said.mentions("5 ft") and said.mentions("glass") and said.mentions("1.5L") and said.mentions("80%")
    assert not said.mentions("6 ft") and not said.mentions("wood") and not said.mentions("")


def test_cheaper_belongs_to_the_item_named_before_it():
    said = Evidence("Exchange the mouse for a white one, wired or not, whichever is cheaper. Also a 5 ft bookshelf.")
    assert said.prefers_cheaper(ORDER["items"][0], ORDER)
    assert not said.prefers_cheaper(ORDER["items"][1], ORDER)


def test_payment_methods_and_reasons():
    assert Evidence("refund to my gift card please").method("original", ORDER, METHODS) == "gift_card_9"
    assert Evidence("refund it").method("gift_card_9", ORDER, METHODS) == "paypal_1"  # not named: the original
    assert Evidence("use the visa ending 4242").method("credit_card_5", ORDER, METHODS) == "credit_card_5"
    assert Evidence("paypal or gift card, whatever").method("original", ORDER, METHODS) == "paypal_1"
    assert Evidence("I ordered it by mistake").reason("ordered by mistake") == "ordered by mistake"
    assert Evidence("I don't need it").reason("ordered by mistake") == "no longer needed"
    assert Evidence("mails a@b.co and c.d@e.org").emails == ["a@b.co", "c.d@e.org"]


def test_what_is_said_about_each_product():
    said = Evidence("Swap the black mouse for a white one. The bookshelf should be 5 feet, in glass.")
    said.heads = {"mouse", "bookshelf", "shirt"}
    mouse, shelf = ORDER["items"][0], ORDER["items"][1]
    assert "white" in said.about(mouse) and not {"glass", "black"} & set(said.about(mouse))  # from the noun on
    assert {"5", "ft", "glass"} <= set(said.about(shelf)) and "white" not in said.about(shelf)
    assert said.mentions("5 ft", said.about(shelf)) and not said.mentions("white", said.about(shelf))
    assert said.about({"name": "Desk Lamp"}) == said.sequence  # never named: the whole ticket


def test_a_number_and_its_unit_are_said_together():
    said = Evidence("Change the 8-inch E-Reader with 32GB to 7-inch, Wi-Fi + Cellular. The hose should be 150cm.")
    assert said.mentions("32GB") and said.mentions("7-inch") and said.mentions("Wi-Fi + Cellular")
    assert not said.mentions("8GB")  # "8" and "GB" are both in the ticket, never together
    assert Evidence("5-feet glass bookshelf").mentions("5 ft")
    assert Evidence("책장은 150cm로 해 주세요", KO_NAMES).mentions("5 ft")  # the shop's Korean value, with a particle
    assert Evidence("레드색으로 바꿔 주세요", KO_NAMES).mentions("red")
    assert not Evidence("레드벨벳 마우스패드", KO_NAMES).mentions("red")  # another word, not the value


def test_two_products_sharing_a_noun_are_told_apart():
    order = {"order_id": "#W1", "items": [{"item_id": "l", "name": "Luggage Set"}, {"item_id": "d",
                                                                                    "name": "Dumbbell Set"}]}
    said = Evidence("Exchange the Luggage Set to softshell; the Dumbbell Set to iron, fixed.")
    said.know(order["items"])
    luggage, dumbbell = order["items"]
    assert "softshell" in said.about(luggage) and "iron" not in said.about(luggage)
    assert "iron" in said.about(dumbbell) and "softshell" not in said.about(dumbbell)


def test_each_order_has_its_own_words():
    said = Evidence("My email is a@b.co. Cancel order #W1000001 because no longer needed. Cancel #W1000002 because "
                    "I ordered it by mistake; for #W1000003 use my gift card, and #W7273336 goes on the visa.")
    assert said.reason("no longer needed", "#W1000002") == "ordered by mistake"
    assert said.reason("ordered by mistake", "#W1000001") == "no longer needed"
    assert said.reason("ordered by mistake", "#W9999999") == "ordered by mistake"  # not named: the whole ticket
    assert "gift card" not in said.part("#W7273336") and "a@b.co" in said.part("#W7273336")  # the opening is shared
    assert said.method("gift_card_9", ORDER, METHODS) == "credit_card_5"  # the visa, said of this order
    same = Evidence("For #W7273336, ship to the address of #W1000001. For #W1000001, return the mouse.")
    assert "ship to" in same.part("#W7273336") and "return" not in same.part("#W7273336")
    assert Evidence("Cancel #W7273336, a mistake.").part("#W7273336") == "cancel #w7273336, a mistake."


def test_items_the_model_left_out_of_an_order_change():
    said = Evidence("For #W7273336, exchange the gaming mouse to white and the t-shirt to red. For #W1000001, "
                    "exchange the bookshelf.")
    assert said.left_out(ORDER, ["1"]) == ["3"]  # the bookshelf is named for another order
    assert said.left_out(ORDER, ["1", "3"]) == []
    assert Evidence("exchange the mouse and the t-shirt").left_out(ORDER, ["1"]) == []  # order not given by id


KO_NAMES = {"products": {"gaming mouse": "게이밍 마우스", "bookshelf": "책장", "t-shirt": "티셔츠"},
            "values": {"white": "화이트", "5 ft": "150cm", "glass": "유리", "red": "레드"}}


def test_a_korean_ticket_read_with_the_shops_korean_names():
    said = Evidence("주문 #W7273336을 확인해 주세요. 게이밍 마우스를 화이트로 바꾸고, 책장은 150cm 유리로 "
                    "교환해 주세요.", KO_NAMES)
    said.know(ORDER["items"])
    mouse, shelf, shirt = ORDER["items"]
    assert said.lang == "ko" and said.order_ids == {"#w7273336"}  # the particle does not hide the id
    assert said.names_item(mouse) and said.names_item(shelf) and not said.names_item(shirt)
    assert said.mentions("white", said.about(mouse)) and not said.mentions("white", said.about(shelf))
    assert said.mentions("5 ft", said.about(shelf)) and said.mentions("glass", said.about(shelf))
    assert not said.mentions("red")  # never said, in either language
    assert said.items(ORDER, ["3"]) == ["3"]  # the id is given: the model's choice stands …
    assert said.left_out(ORDER, ["1"]) == ["2"]  # … and the named bookshelf joins the mouse in one change
    assert Evidence("실수로 주문해서 취소하려고 합니다").reason("no longer needed") == "ordered by mistake"
    assert Evidence("더 이상 필요하지 않아서 취소합니다").reason("ordered by mistake") == "no longer needed"
    assert Evidence("기프트카드로 환불해 주세요").method("original", ORDER, METHODS) == "gift_card_9"
    assert Evidence("페이팔로 결제").method("credit_card_5", ORDER, METHODS) == "paypal_1"
    # Without the shop's Korean names a Korean product name names nothing: nothing is guessed.
    assert not Evidence("게이밍 마우스를 화이트로 바꿔 주세요").names_item(mouse)


def test_the_cheaper_one_in_korean():
    said = Evidence("게이밍 마우스는 유선이든 무선이든 더 저렴한 쪽으로 주세요. 책장은 비싼 것도 괜찮아요.", KO_NAMES)
    mouse, shelf, _ = ORDER["items"]
    assert said.prefers_cheaper(mouse, ORDER) and not said.prefers_cheaper(shelf, ORDER)


def test_a_change_is_made_only_for_an_order_the_ticket_asks_it_of():
    said = Evidence("Cancel order #W1000001 because I ordered it by mistake. For #W7273336, change the address to "
                    "1 Main St, Austin, TX 73301.")
    assert said.asks("cancel", "#W1000001") and not said.asks("cancel", "#W7273336")
    assert said.asks("change_order_address", "#W7273336")  # an address must be written out anyway
    ko = Evidence("실수로 주문해서 주문 #W1000001을 취소하려고 합니다. 주문 #W7273336의 배송지 주소를 바꾸려고 합니다.")
    assert ko.asks("cancel", "#W1000001") and not ko.asks("cancel", "#W7273336")
    two = Evidence("For #W1000001, return the mouse. For #W7273336, I love the mouse but exchange the shelf.")
    assert two.asks("return", "#W1000001") and not two.asks("return", "#W7273336")
    assert two.asks("exchange", "#W7273336") and not two.asks("exchange", "#W1000001")
    ko_two = Evidence("주문 #W1000001의 게이밍 마우스를 반품하고 환불받고 싶어요. "
                      "주문 #W7273336은 책장을 교환해 주세요.")
    assert ko_two.asks("return", "#W1000001") and ko_two.asks("exchange", "#W7273336")
    assert not ko_two.asks("return", "#W7273336")
    # About one order, a customer may put it in their own words: the rule is for telling orders apart.
    assert Evidence("I won't be able to receive #W7273336, I want a full refund").asks("cancel", "#W7273336")


def test_of_two_same_named_items_the_one_whose_options_the_ticket_states():
    order = {"order_id": "#W7273336", "items": [
        {"item_id": "a", "product_id": "p", "name": "Wireless Earbuds",
         "options": {"color": "black", "battery life": "6 hours"}},
        {"item_id": "b", "product_id": "p", "name": "Wireless Earbuds",
         "options": {"color": "blue", "battery life": "4 hours"}},
        {"item_id": "c", "product_id": "q", "name": "Bookshelf", "options": {"material": "glass"}}]}
    said = Evidence("For #W7273336, exchange Wireless Earbuds {'color': 'blue', 'battery life': '4 hours'} to "
                    "{'battery life': '8 hours'}.")
    assert said.same_named(order, "a") == "b" and said.same_named(order, "b") == "b"
    assert said.same_named(order, "c") == "c"  # no twin
    vague = Evidence("For #W7273336, exchange the Wireless Earbuds for 8 hours battery.")
    assert vague.same_named(order, "a") == "a"  # the ticket singles none out: the model's pick stands
